"""Play a piece into a MIDI output port: a DAW, a software synth, or a virtual port.

    python examples/play_live.py                     # lists the ports
    python examples/play_live.py "FLUID Synth"       # composes 8 bars and plays them there
    python examples/play_live.py --virtual           # opens port "midigan" for a DAW to record

Needs python-rtmidi (`pip install 'midigan[live]'`) and a MIDI system (on Linux the ALSA
sequencer, /dev/snd/seq). Ctrl-C stops cleanly: every sounding note gets its note-off.

The same from the shell:

    midigan play --list-ports
    midigan play song.mid --port "FLUID Synth" --tempo 100
"""

from __future__ import annotations

import sys
import time

import midigan
from midigan.io.live import output_names


def main() -> None:
    args = sys.argv[1:]
    try:
        if not args:
            print("MIDI output ports:", output_names() or "none")
            return
        piece = midigan.compose(bars=8, key="D", seed=3)
        virtual = args[0] == "--virtual"
        if virtual:
            print("opening virtual port 'midigan'; connect your DAW to it within 3 s")
        port = None if virtual else args[0]
        if virtual:
            time.sleep(3)
        print(f"played {piece.play(port, virtual=virtual)} messages")
    except midigan.MidiganError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("stopped")


if __name__ == "__main__":
    main()

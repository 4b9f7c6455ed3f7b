"""Which GUI names a forked run can honour: shared by the shell (zygote) and the engine.

A kernel given ``%matplotlib NAME`` or ``%gui NAME`` either draws into outputs (inline) and
comms (widget, notebook), which needs no event loop, or runs the toolkit's event loop beside
the user's code, which a forked run cannot. The names follow ipykernel's ``eventloops``.
"""

from __future__ import annotations

NO_EVENT_LOOP_GUIS = frozenset({"inline", "nbagg", "webagg", "notebook", "ipympl", "widget"})
EVENT_LOOP_GUIS = frozenset(
    {"qt", "qt4", "qt5", "qt6", "tk", "gtk", "gtk3", "gtk4", "wx", "osx", "glut", "pyglet"}
)

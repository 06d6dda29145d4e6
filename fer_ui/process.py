"""One-time set-up of the server process, called explicitly by ``streamlit_app.py`` (and the tests).

It runs before any page imports TensorFlow or streamlit-webrtc; it is idempotent, so calling it on
every script run costs nothing after the first.
"""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()


def preload_srtp() -> None:
    """Import pylibsrtp (WebRTC's SRTP, used by aiortc) so that it keeps its own OpenSSL.

    TensorFlow loads ``libtensorflow_framework.so`` with global symbols, including BoringSSL's
    ``HMAC_Init_ex``. If libsrtp is loaded after it, its start-up self-test calls TensorFlow's HMAC
    instead of its own and the whole process dies with a segmentation fault. Loading the binding
    with ``RTLD_DEEPBIND`` makes it prefer its own symbols whatever was imported before. It is a
    no-op once pylibsrtp is imported, or off Linux.
    """
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)
    with _lock:
        if "pylibsrtp" in sys.modules or not deepbind:
            return
        flags = sys.getdlopenflags()
        sys.setdlopenflags(os.RTLD_NOW | deepbind)
        try:
            import pylibsrtp  # noqa: F401 - imported for its side effect: binding libsrtp safely
        except ImportError:
            pass  # without streamlit-webrtc installed there is nothing to protect
        finally:
            sys.setdlopenflags(flags)


def prepare_process() -> None:
    """Everything the server process needs before the first page runs (see :func:`preload_srtp`)."""
    preload_srtp()

"""A process-wide allocator setting for the word2vec driver and tasks, whose rounds allocate
and free large temporaries."""

import ctypes


def keep_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of returning it to the OS.

    Every round allocates and frees tens of MB (received deltas, merge temporaries); by
    default glibc serves blocks that large with fresh ``mmap`` pages and unmaps them on
    free, so every round pays page faults on all of it again. The heap then stays at its
    high-water mark, which the run reaches anyway. A no-op off glibc.
    """
    m_trim_threshold, m_mmap_threshold = -1, -3
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(m_mmap_threshold, 1 << 30)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):
        pass

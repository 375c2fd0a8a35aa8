"""The OpenCL backend: the heavy operations as pyopencl kernels (``kernels/*.cl``).

This is the only module that imports pyopencl, and only when an OpenCL backend is first
constructed (never at import). Everything device-related is created lazily,
on the first operation inside the process that runs it, and cached per process: a Spark
Python worker compiles once and reuses its context for every later task, and nothing is
created at import time, because a process forked after it created an OpenCL context hangs.
If the process id changes (we were forked anyway), the cached state is dropped and rebuilt.

Arrays cross the interface as numpy arrays. A probe kernel at context creation checks
whether the device computes in host memory in place (``CL_MEM_USE_HOST_PTR``; PoCL's CPU
device does): then buffers wrap the arrays, inputs and outputs are never copied and we only
wait for the queue. Otherwise (a GPU) buffers live on the device and explicit host<->device
copies are enqueued. GEMM packs its operands into cached, 128-byte aligned staging buffers
sized by shape. ``sgns_update`` updates ``syn0``/``syn1neg`` in place: on PoCL repeated calls
copy nothing but the pair arrays' wrappers; on a GPU each call uploads and downloads both
matrices. ``sgns_train`` does the same with word2vec.c's whole loop (subsampling, windows,
negatives drawn in the kernel) from the token stream, so the host draws nothing.

Storage is float32. float64 inputs are delegated to the numpy reference backend (gradient
checks run in float64 and must stay exact), so mixing precisions is never silent truncation.

Reading order: finding and choosing a device; the per-process device state (context, queue,
kernels, buffers); :class:`OpenCLBackend`, its sections the four interfaces of base.py
(dense operations, the exchange's row operations, the SGNS kernels, document vectors); ``auto``
(:class:`CPUAutoBackend`, :func:`auto_backend`).
"""

import logging
import os
import tempfile
import threading
from importlib import resources

import numpy as np

from sparknn.backend.base import Backend
from sparknn.backend.dense import NumpyDense
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.backend.sgns import SGNSRun
from sparknn.errors import SparknnError

log = logging.getLogger("sparknn")

DEVICE_ENV = "SPARKNN_OPENCL_DEVICE"
BUILD_OPTIONS = ["-cl-fast-relaxed-math"]
# Built without fast math: rows.cl must match numpy bit for bit, documents.cl MLlib's sums.
EXACT_SOURCES = {"rows.cl", "documents.cl"}
ALIGN_BYTES = 128  # PoCL's CL_DEVICE_MEM_BASE_ADDR_ALIGN is 1024 bits
GEMM_MR, GEMM_NR = 6, 16  # microtile of kernels/gemm.cl
ACTIVATION_CODES = {"linear": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
SGNS_WORKERS_PER_UNIT = 4  # work-items (Hogwild chunks) per compute unit
# Work-items of the row kernels (rows.cl): one, a single loop on one core. Spread over
# PoCL's threads (the driver and both tasks each running PoCL's thread pool on the same 2
# cores) they slowed a word2vec job by an order of magnitude (docs/word2vec-design.md).
ROW_WORKERS = 1
_PROBE_SOURCE = "__kernel void probe(__global float *x) { x[get_global_id(0)] = 1.0f; }"


def _import_pyopencl():
    try:
        import pyopencl
    except ImportError as error:
        raise SparknnError(
            f"backend 'opencl' needs pyopencl ({error}); install pyopencl and "
            "pocl-binary-distribution, or use backend='numpy'"
        ) from None
    return pyopencl


def _ensure_pocl_cache_dir() -> None:
    # PoCL caches compiled kernels under $HOME by default, which executors may not be able to
    # write; pick a per-user directory under the temp dir unless the user chose one.
    if "POCL_CACHE_DIR" not in os.environ:
        path = os.path.join(tempfile.gettempdir(), f"sparknn-pocl-cache-{os.getuid()}")
        os.makedirs(path, exist_ok=True)
        os.environ["POCL_CACHE_DIR"] = path


def list_devices():
    """Every OpenCL device as ``(platform_name, device)``, in a stable order (may be empty)."""
    cl = _import_pyopencl()
    _ensure_pocl_cache_dir()
    found = []
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # no ICD / no platform installed
        return found
    for platform in platforms:
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        found.extend((platform.name, device) for device in devices)
    return found


def describe_devices(found) -> str:
    if not found:
        return "no OpenCL platforms or devices found"
    return "; ".join(
        f"[{index}] {device.name.strip()} ({platform})"
        for index, (platform, device) in enumerate(found)
    )


def is_gpu(device) -> bool:
    cl = _import_pyopencl()
    return bool(device.type & (cl.device_type.GPU | cl.device_type.ACCELERATOR))


def gpu_for_address(found, address: str) -> int:
    """The index in ``found`` of the GPU that Spark assigned a task as ``address``.

    Spark's GPU addresses are whatever the discovery script printed; sparknn reads them as
    indices among ``found``'s GPUs (and accelerators), in order, so that the tasks of one
    host that hold different addresses compute on different devices. Raises SparknnError
    for an address that is not such an index."""
    gpus = [index for index, (_, device) in enumerate(found) if is_gpu(device)]
    if not (address.isdigit() and int(address) < len(gpus)):
        raise SparknnError(
            f"Spark assigned this task GPU address {address!r}, but sparknn reads addresses "
            f"as indices among the OpenCL GPUs, and there are {len(gpus)} "
            f"({describe_devices(found)}); make the GPU discovery script print indices "
            f"0..{len(gpus) - 1}"
        )
    return gpus[int(address)]


def choose_device(found, wanted: str | None = None, gpu_address: str | None = None):
    """Pick a device: ``wanted`` (index or name substring), else the GPU Spark assigned the
    task (``gpu_address``, see :func:`gpu_for_address`), else $SPARKNN_OPENCL_DEVICE (index
    or name substring), else the first GPU, else the first device. Raises SparknnError
    naming what was found."""
    source = "device"
    if not found:
        raise SparknnError(f"backend 'opencl' has no usable device: {describe_devices(found)}")
    if wanted is None and gpu_address is not None:
        if os.environ.get(DEVICE_ENV):  # one value for every task: it cannot spread them
            log.warning(
                "%s=%r ignored: Spark assigned this task GPU %r",
                DEVICE_ENV, os.environ[DEVICE_ENV], gpu_address,
            )  # fmt: skip
        return found[gpu_for_address(found, gpu_address)][1]
    if wanted is None:
        wanted, source = os.environ.get(DEVICE_ENV), DEVICE_ENV
    if wanted is not None and str(wanted).strip() != "":
        wanted = str(wanted).strip()
        if wanted.isdigit():
            index = int(wanted)
            if index < len(found):
                return found[index][1]
        else:
            for platform, device in found:
                if wanted.lower() in f"{device.name} {platform}".lower():
                    return device
        raise SparknnError(
            f"{source}={wanted!r} matches no OpenCL device (index or name substring); "
            f"found: {describe_devices(found)}"
        )
    gpus = [device for _, device in found if is_gpu(device)]
    return gpus[0] if gpus else found[0][1]


def aligned_empty(shape, dtype=np.float32, align=ALIGN_BYTES) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``align``-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    raw = np.empty(count * dtype.itemsize + align, dtype=np.uint8)
    offset = -raw.ctypes.data % align
    return raw[offset : offset + count * dtype.itemsize].view(dtype).reshape(shape)


class _DeviceState:
    """Context, queue, compiled kernels and staging buffers of one process."""

    def __init__(self, device):
        cl = _import_pyopencl()
        self.cl = cl
        self.pid = os.getpid()
        self.device = device
        self.gpu = is_gpu(device)  # kernels are built, and word2vec split, by device type
        self.doubles = bool(device.double_fp_config)  # documents.cl adds in double
        self.max_buffer_bytes = device.max_mem_alloc_size
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context)
        self.kernels: dict[tuple, object] = {}
        self.staging: dict[str, tuple[np.ndarray, object]] = {}
        self.staging_lock = threading.Lock()  # staging buffers are shared by calls
        self.zero_copy = self._probe_zero_copy()

    def _probe_zero_copy(self) -> bool:
        """Does this device compute in host memory (PoCL CPU), so copies can be skipped?"""
        probe = np.zeros(4, np.float32)
        program = self.cl.Program(self.context, _PROBE_SOURCE).build()
        program.probe(self.queue, (4,), None, self.wrap(probe, write=True))
        self.queue.finish()
        return bool((probe == 1.0).all())

    def kernel(self, source: str, name: str, defines: tuple = ()):
        key = (source, name, defines)
        if key not in self.kernels:
            kernels = resources.files("sparknn.backend") / "kernels"
            text = (kernels / "common.cl").read_text() + (kernels / source).read_text()
            device = (
                ("SPARKNN_CPU_DEVICE", int(not self.gpu)),
                ("SPARKNN_NVIDIA", int("NVIDIA" in self.device.platform.name.upper())),
            )
            fast = [] if source in EXACT_SOURCES else BUILD_OPTIONS
            options = fast + [f"-D{k}={v}" for k, v in (*device, *defines)]
            try:
                program = self.cl.Program(self.context, text).build(options=options)
            except self.cl.RuntimeError as error:  # a compiler not met before: name it
                raise SparknnError(
                    f"OpenCL kernels {source} failed to build on {self.device.name.strip()} "
                    f"({self.device.platform.name.strip()}); backend='numpy' avoids them. "
                    f"The compiler said: {error}"
                ) from None
            for kernel in program.all_kernels():
                self.kernels[(source, kernel.function_name, defines)] = kernel
        return self.kernels[key]

    def atomic_rows(self, workers: int) -> int:
        """1 if the sgns kernels must add to rows atomically: several work-items on a GPU,
        whose lockstep writes would otherwise lose most updates of shared rows (sgns.cl)."""
        return int(workers > 1 and self.gpu)

    def wrap(self, array: np.ndarray, write: bool = False):
        """A buffer for ``array`` (contiguous). On a zero-copy device, ``array``'s own memory.
        On a device with memory of its own, a device buffer: a read-only one starts as a copy
        of ``array``; a written one starts empty, and callers copy in (``to_device``) what the
        kernel reads. Not ``USE_HOST_PTR`` there: PoCL would then compute in host memory
        anyway, and tests forcing this path on PoCL would miss a missing copy."""
        mf = self.cl.mem_flags
        access = mf.READ_WRITE if write else mf.READ_ONLY
        if getattr(self, "zero_copy", True):  # the probe itself runs before it is known
            return self.cl.Buffer(self.context, access | mf.USE_HOST_PTR, hostbuf=array)
        if write:
            return self.cl.Buffer(self.context, access, size=array.nbytes)
        return self.cl.Buffer(self.context, access | mf.COPY_HOST_PTR, hostbuf=array)

    def stage(self, slot: str, shape) -> tuple[np.ndarray, object]:
        """A reusable aligned float32 array of ``shape`` and a buffer over it (grown as needed)."""
        count = int(np.prod(shape))
        held = self.staging.get(slot)
        if held is None or held[0].size < count:
            array = aligned_empty((max(count, 1),))
            held = (array, self.wrap(array, write=True))
            self.staging[slot] = held
        return held[0][:count].reshape(shape), held[1]

    def to_host(self, array: np.ndarray, buffer) -> None:
        # On a zero-copy device (PoCL CPU) the buffer *is* the host memory: only wait.
        if self.zero_copy:
            self.queue.finish()
        else:
            self.cl.enqueue_copy(self.queue, array, buffer)

    def to_device(self, buffer, array: np.ndarray) -> None:
        if not self.zero_copy:
            self.cl.enqueue_copy(self.queue, buffer, array)


class OpenCLBackend(Backend):
    """Backend running the heavy operations as OpenCL kernels (float32).

    ``device``: index or name substring; default the GPU Spark assigned the task
    (``gpu_address``, its address in ``TaskContext.resources()["gpu"]``, read as an index
    among the OpenCL GPUs), else $SPARKNN_OPENCL_DEVICE, else the first GPU, else the first
    device. Construction checks that a device exists (a clear SparknnError listing what was
    found otherwise) but creates no context: that happens on first use.

    ``sgns_workers``: how many work-items (contiguous chunks of pairs, Hogwild between
    chunks) ``sgns_update`` uses; None = 4 per compute unit, all cores busy, results depend
    on thread timing. 1 = one sequential pass: exactly word2vec.c's single-thread order,
    deterministic, one core (what a Spark task with one core should use). When set, it is
    also what ``sgns_train`` uses where ``run.workers`` is None; unset, 1 on a CPU device, 4 per
    compute unit on a GPU (why: docs/DESIGN-NOTES.md, "Work-items on a GPU").
    """

    name = "opencl"
    fused_sgns = True

    def __init__(
        self, device: str | int | None = None, sgns_workers: int | None = None,
        gpu_address: str | None = None,
    ):  # fmt: skip
        if sgns_workers is not None and (not isinstance(sgns_workers, int) or sgns_workers < 1):
            raise SparknnError(f"sgns_workers must be None or an int >= 1, got {sgns_workers!r}")
        self.device = device
        self.sgns_workers = sgns_workers
        found = list_devices()
        chosen = choose_device(found, None if device is None else str(device), gpu_address)
        self.device_name = chosen.name.strip()
        self._device_index = next(i for i, (_, d) in enumerate(found) if d == chosen)
        self._reference = NumpyBackend()
        self._state: _DeviceState | None = None
        self._lock = threading.Lock()

    # -- process-local device state ----------------------------------------------------
    def _dev(self) -> _DeviceState:
        state = self._state
        if state is None or state.pid != os.getpid():
            with self._lock:
                if self._state is None or self._state.pid != os.getpid():
                    device = list_devices()[self._device_index][1]
                    self._state = _DeviceState(device)
                state = self._state
        return state

    def __getstate__(self):  # pickled into Spark closures: ship the choice, not the context
        return {
            "device": self.device,
            "sgns_workers": self.sgns_workers,
            "device_name": self.device_name,
            "_device_index": self._device_index,
        }

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reference = NumpyBackend()
        self._state = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"OpenCLBackend(device={self.device_name!r})"

    # -- GEMM -------------------------------------------------------------------------
    def gemm(self, a, b, trans_a=False, trans_b=False, out=None, accumulate=False):
        if _wants_float64(a, b, out):
            return self._reference.gemm(a, b, trans_a, trans_b, out, accumulate)
        if accumulate and out is None:
            raise SparknnError("gemm: accumulate=True needs an 'out' array to add into")
        op_a = np.asarray(a).T if trans_a else np.asarray(a)
        op_b = np.asarray(b).T if trans_b else np.asarray(b)
        if op_a.ndim != 2 or op_b.ndim != 2 or op_a.shape[1] != op_b.shape[0]:
            raise SparknnError(f"gemm: cannot multiply op(a) {op_a.shape} by op(b) {op_b.shape}")
        M, K = op_a.shape
        N = op_b.shape[1]
        if out is not None and out.shape != (M, N):
            raise SparknnError(f"gemm: out has shape {out.shape}, the product is {(M, N)}")
        if M == 0 or N == 0 or K == 0:
            product = np.zeros((M, N), np.float32)
            if accumulate:
                return out
            if out is not None:
                out[...] = 0.0
                return out
            return product
        dev = self._dev()
        with dev.staging_lock:  # the product lives in a staging buffer until copied out
            product = self._gemm_packed(dev, op_a, op_b)
            if accumulate:
                out += product
                return out
            if out is not None:
                out[...] = product
                return out
            return product.copy()

    def _gemm_packed(self, dev, op_a, op_b) -> np.ndarray:
        M, K = op_a.shape
        N = op_b.shape[1]
        row_panels, col_panels = -(-M // GEMM_MR), -(-N // GEMM_NR)
        a_packed, a_buf = dev.stage("gemm_a", (row_panels, K, GEMM_MR))
        b_packed, b_buf = dev.stage("gemm_b", (col_panels, K, GEMM_NR))
        c_padded, c_buf = dev.stage("gemm_c", (row_panels * GEMM_MR, col_panels * GEMM_NR))
        _pack_rows(op_a, a_packed)
        _pack_rows(op_b.T, b_packed)
        dev.to_device(a_buf, a_packed)
        dev.to_device(b_buf, b_packed)
        kernel = dev.kernel("gemm.cl", "gemm_packed")
        kernel(
            dev.queue,
            (col_panels, row_panels),
            (1, 1),
            np.int32(K),
            a_buf,
            b_buf,
            c_buf,
            np.int32(col_panels * GEMM_NR),
        )
        dev.to_host(c_padded, c_buf)
        return c_padded[:M, :N]  # a view of the staging buffer: callers copy it out

    # -- elementwise --------------------------------------------------------------------
    def bias_activation(self, z, bias, activation):
        if activation not in ACTIVATION_CODES and activation != "softmax":
            raise SparknnError(
                f"unknown activation {activation!r}; choose one of "
                f"{', '.join([*ACTIVATION_CODES, 'softmax'])}"
            )
        if _wants_float64(z, bias):
            return self._reference.bias_activation(z, bias, activation)
        z = _as_f32(z)
        rows, n = _as_rows(z)
        if z.size == 0:
            return np.empty_like(z)
        dev = self._dev()
        y = np.empty_like(z)
        bias_arr = _as_f32(bias) if bias is not None else np.zeros(1, np.float32)
        buffers = [dev.wrap(z), dev.wrap(bias_arr), dev.wrap(y, write=True)]
        use_bias = np.int32(bias is not None)
        if activation == "softmax":
            kernel = dev.kernel("elementwise.cl", "bias_softmax")
            kernel(
                dev.queue, (rows,), None, buffers[0], buffers[1], use_bias, np.int32(n), buffers[2]
            )
        else:
            kernel = dev.kernel("elementwise.cl", "bias_activation")
            kernel(
                dev.queue,
                (n, rows),
                None,
                buffers[0],
                buffers[1],
                use_bias,
                np.int32(ACTIVATION_CODES[activation]),
                np.int32(n),
                buffers[2],
            )
        dev.to_host(y, buffers[2])
        return y

    def activation_backward(self, grad_out, y, activation):
        if activation not in ACTIVATION_CODES and activation != "softmax":
            raise SparknnError(
                f"unknown activation {activation!r}; choose one of "
                f"{', '.join([*ACTIVATION_CODES, 'softmax'])}"
            )
        if _wants_float64(grad_out, y):
            return self._reference.activation_backward(grad_out, y, activation)
        grad_out, y = _as_f32(grad_out), _as_f32(y)
        if activation == "linear":
            return grad_out
        if y.size == 0:
            return np.empty_like(y)
        dev = self._dev()
        grad_in = np.empty_like(y)
        bufs = [dev.wrap(grad_out), dev.wrap(y), dev.wrap(grad_in, write=True)]
        if activation == "softmax":
            rows, n = _as_rows(y)
            kernel = dev.kernel("elementwise.cl", "softmax_backward")
            kernel(dev.queue, (rows,), None, bufs[0], bufs[1], np.int32(n), bufs[2])
        else:
            kernel = dev.kernel("elementwise.cl", "activation_backward")
            kernel(
                dev.queue,
                (y.size,),
                None,
                bufs[0],
                bufs[1],
                np.int32(ACTIVATION_CODES[activation]),
                bufs[2],
            )
        dev.to_host(grad_in, bufs[2])
        return grad_in

    # -- LSTM cell ------------------------------------------------------------------------
    def lstm_cell_forward(self, z, c_prev):
        if _wants_float64(z, c_prev):
            return self._reference.lstm_cell_forward(z, c_prev)
        z, c_prev = _as_f32(z), _as_f32(c_prev)
        B, H = c_prev.shape
        if z.shape != (B, 4 * H):
            raise SparknnError(f"lstm_cell_forward: z has shape {z.shape}, expected {(B, 4 * H)}")
        h, c, gates = np.empty_like(c_prev), np.empty_like(c_prev), np.empty_like(z)
        if B * H == 0:
            return h, c, gates
        dev = self._dev()
        bufs = [dev.wrap(z), dev.wrap(c_prev)] + [dev.wrap(x, write=True) for x in (h, c, gates)]
        kernel = dev.kernel("elementwise.cl", "lstm_cell_forward")
        kernel(dev.queue, (H, B), None, bufs[0], bufs[1], np.int32(H), *bufs[2:])
        for array, buffer in zip((h, c, gates), bufs[2:], strict=True):
            dev.to_host(array, buffer)
        return h, c, gates

    def lstm_cell_backward(self, dh, dc, c_prev, c, gates):
        if _wants_float64(dh, dc, c_prev, c, gates):
            return self._reference.lstm_cell_backward(dh, dc, c_prev, c, gates)
        dh, dc, c_prev, c, gates = (_as_f32(x) for x in (dh, dc, c_prev, c, gates))
        B, H = c.shape
        dz, dc_prev = np.empty_like(gates), np.empty_like(c)
        if B * H == 0:
            return dz, dc_prev
        dev = self._dev()
        ins = [dev.wrap(x) for x in (dh, dc, c_prev, c, gates)]
        outs = [dev.wrap(dz, write=True), dev.wrap(dc_prev, write=True)]
        kernel = dev.kernel("elementwise.cl", "lstm_cell_backward")
        kernel(dev.queue, (H, B), None, *ins, np.int32(H), *outs)
        dev.to_host(dz, outs[0])
        dev.to_host(dc_prev, outs[1])
        return dz, dc_prev

    # -- softmax + cross-entropy ---------------------------------------------------------
    def softmax_cross_entropy(self, logits, labels):
        if _wants_float64(logits):
            return self._reference.softmax_cross_entropy(logits, labels)
        logits = _as_f32(logits)
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        B, V = logits.shape
        if labels.shape != (B,):
            raise SparknnError(f"softmax_cross_entropy: labels shape {labels.shape}, need {(B,)}")
        if B and (labels.min() < 0 or labels.max() >= V):
            raise SparknnError(f"softmax_cross_entropy: labels must lie in [0, {V})")
        losses, dlogits = np.empty(B, np.float32), np.empty_like(logits)
        if B == 0:
            return losses, dlogits
        dev = self._dev()
        bufs = [
            dev.wrap(logits),
            dev.wrap(labels),
            dev.wrap(losses, write=True),
            dev.wrap(dlogits, write=True),
        ]
        kernel = dev.kernel("elementwise.cl", "softmax_cross_entropy")
        kernel(dev.queue, (B,), None, bufs[0], bufs[1], np.int32(V), bufs[2], bufs[3])
        dev.to_host(losses, bufs[2])
        dev.to_host(dlogits, bufs[3])
        return losses, dlogits

    # -- word2vec: the exchange's row operations ----------------------------------------
    # The exchange's row operations (rows.py) run as kernels where the device computes in
    # host memory (PoCL's CPU device): nothing is copied, and one pass over the rows does
    # what takes numpy several. Elsewhere (a GPU) copying the matrices both ways would cost
    # more than numpy's work, so the numpy reference runs them. Either way the values are
    # the reference's.
    @property
    def threaded_rows(self) -> bool:
        return not self._dev().zero_copy  # a kernel object must not be shared by threads

    @property
    def trains_in_place(self) -> bool:
        return self._dev().zero_copy

    def _row_kernel(self, name, matrices, rows, per_row=(), **defines):
        """The rows.cl kernel ``name``, or None where the reference runs instead: on a
        device with memory of its own, for arrays the kernel cannot update in place, and
        for rows or shapes it would read or write past (the reference raises numpy's error).
        ``per_row``: ``(array, the shape it must have)`` pairs."""
        dev = self._dev()
        shape = np.shape(matrices[0])
        if not dev.zero_copy or len(rows) == 0:
            return None
        if not all(_in_place_float32(m) and m.shape == shape for m in matrices):
            return None
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.min() < 0 or rows.max() >= shape[0]:
            return None
        if any(np.shape(array) != want for array, want in per_row):
            return None
        return dev.kernel("rows.cl", name, (("DIM", shape[1]), *defines.items()))

    def add_scaled_rows(self, dst, rows, src, scale=None):
        per_row = [(src, (len(rows), np.shape(dst)[-1]))]
        per_row += [(scale, (len(rows),))] if scale is not None else []
        kernel = self._row_kernel(
            "add_scaled_rows", [dst], rows, per_row, SCALED=int(scale is not None)
        )
        if kernel is None:
            return self._reference.add_scaled_rows(dst, rows, src, scale)
        dev = self._dev()
        src = _as_f32(src)  # overwritten with the new rows
        weights = np.ones(1, np.float32) if scale is None else _as_f32(scale)
        buffers = dev.wrap(dst, write=True), dev.wrap(_i32(rows)), dev.wrap(src, write=True)
        kernel(dev.queue, (ROW_WORKERS,), None, *buffers, dev.wrap(weights), np.uint32(len(rows)))
        dev.queue.finish()
        return src

    def subtract_rows(self, a, b, rows):
        kernel = self._row_kernel("subtract_rows", [a, b], rows)
        if kernel is None:
            return self._reference.subtract_rows(a, b, rows)
        dev = self._dev()
        out = np.empty((len(rows), a.shape[1]), np.float32)
        buffers = dev.wrap(out, write=True), dev.wrap(a), dev.wrap(b), dev.wrap(_i32(rows))
        kernel(dev.queue, (ROW_WORKERS,), None, *buffers, np.uint32(len(rows)))
        dev.queue.finish()
        return out

    def apply_rows(self, matrix, base, rows, values, pending=None):
        per_row = [(values, (len(rows), np.shape(matrix)[-1]))]
        per_row += [(pending, (len(matrix),))] if pending is not None else []
        kernel = self._row_kernel(
            "apply_rows", [matrix, base], rows, per_row, PENDING=int(pending is not None)
        )
        if kernel is None:
            return self._reference.apply_rows(matrix, base, rows, values, pending)
        dev = self._dev()
        flags = np.zeros(1, np.int32) if pending is None else _i32(pending)
        buffers = (
            dev.wrap(matrix, write=True), dev.wrap(base, write=True), dev.wrap(_i32(rows)),
            dev.wrap(_as_f32(values)), dev.wrap(flags),
        )  # fmt: skip
        kernel(dev.queue, (ROW_WORKERS,), None, *buffers, np.uint32(len(rows)))
        dev.queue.finish()

    # -- document vectors -----------------------------------------------------------------
    def document_means(self, table, ids, lengths):
        """On a device that computes in host memory and has doubles, one pass of
        documents.cl's single work-item (MLlib's sums, bit for bit); elsewhere, and for a
        table larger than one buffer may be, the numpy reference."""
        dev = self._dev()
        ids, lengths = _i32(ids), np.asarray(lengths, np.int64)
        usable = (
            dev.zero_copy and dev.doubles and len(lengths) and len(ids)
            and _in_place_float32(table) and table.nbytes <= dev.max_buffer_bytes
            and 0 <= ids.min() and ids.max() < len(table) and lengths.sum() == len(ids)
        )  # fmt: skip
        if not usable:
            return self._reference.document_means(table, ids, lengths)
        kernel = dev.kernel("documents.cl", "document_means", (("DIM", table.shape[1]),))
        out = np.empty((len(lengths), table.shape[1]))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        buffers = dev.wrap(out, write=True), dev.wrap(table), dev.wrap(ids), dev.wrap(offsets)
        kernel(dev.queue, (ROW_WORKERS,), None, *buffers, np.uint32(len(lengths)))
        dev.queue.finish()
        return out

    # -- word2vec: SGNS kernels -----------------------------------------------------------
    def sgns_update(self, syn0, syn1neg, inputs, outputs, negatives, alphas):
        for name, matrix in (("syn0", syn0), ("syn1neg", syn1neg)):
            if matrix.dtype != np.float32 or not matrix.flags.c_contiguous:
                raise SparknnError(
                    f"sgns_update: {name} must be a C-contiguous float32 array (it is updated "
                    f"in place), got dtype {matrix.dtype}, contiguous={matrix.flags.c_contiguous}"
                )
        if syn0.shape[1] != syn1neg.shape[1]:
            raise SparknnError(f"sgns_update: syn0 {syn0.shape} and syn1neg {syn1neg.shape} differ")
        inputs = np.ascontiguousarray(inputs, dtype=np.int32)
        outputs = np.ascontiguousarray(outputs, dtype=np.int32)
        negatives = np.ascontiguousarray(negatives, dtype=np.int32).reshape(len(inputs), -1)
        alphas = np.ascontiguousarray(alphas, dtype=np.float32)
        n_pairs = len(inputs)
        if n_pairs == 0:
            return 0.0
        dev = self._dev()
        workers = self.sgns_workers or dev.device.max_compute_units * SGNS_WORKERS_PER_UNIT
        workers = min(n_pairs, workers)
        chunk = -(-n_pairs // workers)
        workers = -(-n_pairs // chunk)
        losses = np.zeros(workers, np.float32)
        # Wrapping the matrices is cheap and, on a zero-copy device, copies nothing:
        # repeated calls on the same syn0/syn1neg update them in place. (A cache keyed by the
        # array would keep dead arrays alive: a USE_HOST_PTR buffer references its host array.)
        syn0_buf, syn1_buf = dev.wrap(syn0, write=True), dev.wrap(syn1neg, write=True)
        dev.to_device(syn0_buf, syn0)
        dev.to_device(syn1_buf, syn1neg)
        pair_bufs = [dev.wrap(x) for x in (inputs, outputs, negatives)]
        defines = (("DIM", syn0.shape[1]), ("SGNS_ATOMIC_ROWS", dev.atomic_rows(workers)))
        kernel = dev.kernel("sgns.cl", "sgns_update", defines)
        loss_buf = dev.wrap(losses, write=True)
        kernel(
            dev.queue,
            (workers,),
            (1,),
            syn0_buf,
            syn1_buf,
            *pair_bufs,
            np.int32(negatives.shape[1]),
            dev.wrap(alphas),
            np.int32(n_pairs),
            np.int32(chunk),
            loss_buf,
        )
        dev.to_host(syn0, syn0_buf)
        dev.to_host(syn1neg, syn1_buf)
        dev.to_host(losses, loss_buf)
        return float(losses.astype(np.float64).sum())

    def sgns_train(self, syn0, syn1neg, tokens, sentence_starts, run, counts0=None, counts1=None):
        """See :meth:`SGNSKernels.sgns_train`; kernel ``sgns_train`` in kernels/sgns.cl."""
        dev = self._dev()
        workers = run.workers
        if workers is None:
            workers = self.sgns_workers or (
                dev.device.max_compute_units * SGNS_WORKERS_PER_UNIT if dev.gpu else 1
            )
        tokens, bounds, keep_prob, table = _check_sgns_train(
            syn0, syn1neg, tokens, sentence_starts, run, counts0, counts1, workers
        )
        n = len(tokens)
        if n == 0:
            return 0.0, 0
        counting = counts0 is not None
        if not counting:  # the kernel takes the arguments but never touches them
            counts0, counts1 = np.zeros(1, np.int32), np.zeros(1, np.int32)
        n_sentences = len(bounds) - 1
        # Sentence [a, b) goes to work-item floor(a * workers / n): groups of whole sentences
        # of about n / workers tokens, in order.
        owner = bounds[:-1].astype(np.int64) * workers // n
        groups = np.searchsorted(owner, np.arange(workers + 1), side="left").astype(np.int32)
        kept, kept_pos = np.empty(n, np.int32), np.empty(n, np.int32)  # per-sentence scratch
        losses = np.zeros(n_sentences, np.float32)
        pairs = np.zeros(workers, np.int64)
        defines = (
            ("DIM", syn0.shape[1]),
            ("NEGATIVE", int(run.negative)),
            ("SGNS_ATOMIC_COUNTS", int(workers > 1)),
            ("SGNS_COUNTS", int(counting)),
            ("SGNS_SHARED_NEGATIVES", int(bool(run.shared_negatives))),
            ("SGNS_ATOMIC_ROWS", dev.atomic_rows(workers)),
        )
        kernel = dev.kernel("sgns.cl", "sgns_train", defines)
        updated = (syn0, syn1neg, counts0, counts1, losses, pairs)  # written by the kernel
        syn0_buf, syn1_buf, counts0_buf, counts1_buf, loss_buf, pairs_buf = buffers = [
            dev.wrap(x, write=True) for x in updated
        ]
        for array, buffer in zip(updated, buffers, strict=True):
            dev.to_device(buffer, array)
        kernel(
            dev.queue,
            (workers,),
            (1,),
            syn0_buf,
            syn1_buf,
            dev.wrap(tokens),
            dev.wrap(bounds),
            dev.wrap(groups),
            dev.wrap(keep_prob),
            dev.wrap(table),
            np.uint64(len(table)),
            np.int32(run.window),
            np.float32(run.alpha_start),
            np.float32((run.alpha_end - run.alpha_start) / n),
            np.uint64(run.seed),
            counts0_buf,
            counts1_buf,
            dev.wrap(kept, write=True),
            dev.wrap(kept_pos, write=True),
            loss_buf,
            pairs_buf,
        )
        for array, buffer in zip(updated, buffers, strict=True):
            dev.to_host(array, buffer)
        return float(losses.astype(np.float64).sum()), int(pairs.sum())


def _check_sgns_train(
    syn0, syn1neg, tokens, sentence_starts, run: SGNSRun, counts0, counts1, workers
):
    """Validate sgns_train's arguments (``workers``: ``run.workers`` or the backend's choice);
    return ``(tokens, bounds, keep_prob, table)`` as the kernel takes them (``bounds``: int32
    sentence starts followed by ``n``)."""
    for name, matrix in (("syn0", syn0), ("syn1neg", syn1neg)):
        if not isinstance(matrix, np.ndarray) or matrix.dtype != np.float32 or matrix.ndim != 2:
            raise SparknnError(f"sgns_train: {name} must be a 2-D float32 array")
        if not matrix.flags.c_contiguous or not matrix.flags.writeable:
            raise SparknnError(f"sgns_train: {name} must be C-contiguous and writeable (in place)")
    if syn0.shape != syn1neg.shape:
        raise SparknnError(f"sgns_train: syn0 {syn0.shape} and syn1neg {syn1neg.shape} differ")
    V = syn0.shape[0]
    if (counts0 is None) != (counts1 is None):
        raise SparknnError("sgns_train: counts0 and counts1 must both be arrays or both None")
    for name, counts in (("counts0", counts0), ("counts1", counts1)):
        if counts is None:  # not counted
            continue
        if not isinstance(counts, np.ndarray) or counts.dtype != np.int32 or counts.shape != (V,):
            raise SparknnError(f"sgns_train: {name} must be an int32 array of shape ({V},)")
        if not counts.flags.c_contiguous or not counts.flags.writeable:
            raise SparknnError(f"sgns_train: {name} must be C-contiguous and writeable (in place)")
    for name, value, low, high in (
        ("window", run.window, 1, 2**31),
        ("negative", run.negative, 1, 2**31),
        ("workers", workers, 1, 2**31),
        ("seed", run.seed, 0, 2**64),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise SparknnError(f"sgns_train: {name} must be an int, got {value!r}")
        if not low <= int(value) < high:
            raise SparknnError(f"sgns_train: {name} must be in [{low}, {high}), got {value!r}")
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    starts = np.asarray(sentence_starts, dtype=np.int64)
    if tokens.ndim != 1 or starts.ndim != 1:
        raise SparknnError("sgns_train: tokens and sentence_starts must be 1-D")
    n = len(tokens)
    if n >= 2**31:
        raise SparknnError(f"sgns_train: at most 2**31 - 1 tokens per call, got {n}")
    if n and (tokens.min() < 0 or tokens.max() >= V):
        raise SparknnError(f"sgns_train: tokens must be word ids in [0, {V})")
    if n and (len(starts) == 0 or starts[0] != 0 or (np.diff(starts) < 0).any() or starts[-1] > n):
        raise SparknnError(
            f"sgns_train: sentence_starts must be sorted offsets starting at 0, at most n={n}"
        )
    keep_prob = np.ascontiguousarray(run.keep_prob, dtype=np.float32)
    if keep_prob.shape != (V,):
        raise SparknnError(f"sgns_train: keep_prob has shape {keep_prob.shape}, need ({V},)")
    table = np.ascontiguousarray(run.negative_table, dtype=np.int32)
    if table.ndim != 1 or not 0 < len(table) < 2**32:
        raise SparknnError("sgns_train: negative_table must be a non-empty 1-D array of word ids")
    bounds = np.empty(len(starts) + 1, np.int32)
    bounds[:-1], bounds[-1] = starts, n
    return tokens, bounds, keep_prob, table


def _in_place_float32(matrix) -> bool:
    return (
        isinstance(matrix, np.ndarray) and matrix.dtype == np.float32 and matrix.ndim == 2
        and matrix.flags.c_contiguous and matrix.flags.writeable
    )  # fmt: skip


def _wants_float64(*arrays) -> bool:
    return any(x is not None and np.asarray(x).dtype == np.float64 for x in arrays)


def _as_f32(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _i32(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int32)


def _as_rows(x: np.ndarray) -> tuple[int, int]:
    """View an array as (rows, last-axis length) for row-wise kernels."""
    n = x.shape[-1] if x.ndim else 1
    return (x.size // n if n else 0), n


def _pack_rows(matrix: np.ndarray, packed: np.ndarray) -> None:
    """Copy ``matrix`` (R, K) into panels ``packed[(R+r-1)//r, K, r]``, zero-padding rows."""
    rows, K = matrix.shape
    panel = packed.shape[2]
    full = rows // panel
    if full:
        packed[:full] = matrix[: full * panel].reshape(full, panel, K).transpose(0, 2, 1)
    tail = rows - full * panel
    if tail:
        packed[full] = 0.0
        packed[full, :, :tail] = matrix[full * panel :].T


class CPUAutoBackend(NumpyDense, Backend):
    """``auto`` on a machine whose only OpenCL devices are CPUs: each operation on the
    backend that is faster there (docs/DESIGN-NOTES.md, "auto on a CPU"). Dense work (GEMM,
    LSTM steps, softmax) stays on numpy; the SGNS kernels, the row operations and document
    vectors run on OpenCL (``self.opencl``), with one sequential work-item (for
    ``sgns_train``, unless ``run.workers`` says otherwise): deterministic for a seed and one
    core per Spark task."""

    name = "auto"
    fused_sgns = True

    def __init__(self, device=None):
        super().__init__()
        self.opencl = OpenCLBackend(device, sgns_workers=1)

    # -- SGNS kernels: OpenCL's ------------------------------------------------------------
    def sgns_update(self, syn0, syn1neg, inputs, outputs, negatives, alphas):
        return self.opencl.sgns_update(syn0, syn1neg, inputs, outputs, negatives, alphas)

    def sgns_train(self, syn0, syn1neg, tokens, sentence_starts, run, counts0=None, counts1=None):
        return self.opencl.sgns_train(syn0, syn1neg, tokens, sentence_starts, run, counts0, counts1)

    @property
    def trains_in_place(self) -> bool:
        return self.opencl.trains_in_place

    # -- row operations: OpenCL's ------------------------------------------------------------
    @property
    def threaded_rows(self) -> bool:
        return self.opencl.threaded_rows

    def add_scaled_rows(self, dst, rows, src, scale=None):
        return self.opencl.add_scaled_rows(dst, rows, src, scale)

    def subtract_rows(self, a, b, rows):
        return self.opencl.subtract_rows(a, b, rows)

    def apply_rows(self, matrix, base, rows, values, pending=None):
        self.opencl.apply_rows(matrix, base, rows, values, pending)

    # -- document vectors: OpenCL's --------------------------------------------------------
    def document_means(self, table, ids, lengths):
        return self.opencl.document_means(table, ids, lengths)

    def __repr__(self):
        kernels = "OpenCL sgns, row and document kernels"
        return f"CPUAutoBackend(numpy + {kernels} on {self.opencl.device_name!r})"


def auto_backend(gpu_address: str | None = None) -> Backend:
    """OpenCL on a GPU; on CPU-only machines numpy for dense ops and OpenCL for sgns_update
    (:class:`CPUAutoBackend`); numpy alone when there is no OpenCL device. A GPU that Spark
    assigned the task (``gpu_address``) means OpenCL on that GPU (an error if OpenCL lists no
    such GPU); else an explicit $SPARKNN_OPENCL_DEVICE means that device, for everything.
    Logs one line when it falls back."""
    try:
        found = list_devices()
    except SparknnError as error:
        log.info("backend auto: %s; using numpy", error)
        return NumpyBackend()
    if gpu_address is not None:
        return OpenCLBackend(gpu_address=gpu_address)
    wanted = os.environ.get(DEVICE_ENV)
    if wanted:
        return OpenCLBackend(wanted)
    if any(is_gpu(device) for _, device in found):
        return OpenCLBackend()
    if not found:
        log.info("backend auto: %s; using numpy", describe_devices(found))
        return NumpyBackend()
    backend = CPUAutoBackend()
    log.info(
        "backend auto: no OpenCL GPU (%s); numpy for dense ops, OpenCL for sgns_update "
        "(faster on CPU: docs/DESIGN-NOTES.md)",
        describe_devices(found),
    )
    return backend

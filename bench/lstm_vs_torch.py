"""LSTM(128) forward+backward: sparknn's numpy LSTM vs torch CPU ``nn.LSTM``, same threads.

Workload: batch 128 x 100 timesteps x 80-symbol one-hot input, 128 units, full sequence
output, gradient w.r.t. all weights (neither side computes the input gradient). Both sides
run in the same process, alternating run by run so machine noise hits both alike; each
thread count runs in a fresh subprocess because BLAS reads its thread count at import.
Before timing, the two are checked to compute the same function (torch gets sparknn's
weights) so the comparison is like for like.

    /work/main/.venv/bin/python bench/lstm_vs_torch.py [--threads 1 2] [--repeats 7]
"""

import argparse
import json
import os
import subprocess
import sys
import time

BATCH, STEPS, SYMBOLS, UNITS = 128, 100, 80, 128


def worker(threads: int, repeats: int) -> dict:
    import numpy as np
    import torch

    import sparknn
    from sparknn.nn import layers

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, SYMBOLS, size=(BATCH, STEPS))
    x = np.eye(SYMBOLS, dtype=np.float32)[ids]  # (B, T, V) one-hot
    dy = rng.normal(size=(BATCH, STEPS, UNITS)).astype(np.float32)

    model = sparknn.Sequential(
        [layers.LSTM(UNITS, return_sequences=True, input_shape=(STEPS, SYMBOLS))], seed=0
    )
    model.build()
    lstm = model.layers[0]

    net = torch.nn.LSTM(SYMBOLS, UNITS)  # time-major, torch's native layout
    with torch.no_grad():  # same gate order [i, f, g, o]; torch's two biases add up
        net.weight_ih_l0.copy_(torch.from_numpy(lstm.params["kernel"].T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(lstm.params["recurrent_kernel"].T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(lstm.params["bias"]))
        net.bias_hh_l0.zero_()
    x_t = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2)))
    dy_t = torch.from_numpy(np.ascontiguousarray(dy.transpose(1, 0, 2)))

    def run_sparknn():
        out = lstm.forward(x, training=True)
        lstm.backward(dy)
        return out

    def run_torch():
        net.zero_grad(set_to_none=True)
        out, _ = net(x_t)
        out.backward(dy_t)
        return out

    # Same function, same gradients (float32 tolerances).
    ours = run_sparknn()
    theirs = run_torch().detach().numpy().transpose(1, 0, 2)
    out_err = float(np.abs(ours - theirs).max())
    grad_err = float(
        np.abs(lstm.grads["kernel"] - net.weight_ih_l0.grad.numpy().T).max()
        / np.abs(lstm.grads["kernel"]).max()
    )
    assert out_err < 1e-4 and grad_err < 1e-4, (out_err, grad_err)

    times = {"sparknn": [], "torch": []}
    for _ in range(repeats):
        for name, fn in (("sparknn", run_sparknn), ("torch", run_torch)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {name: float(np.median(values)) for name, values in times.items()}
    return {
        "threads": threads,
        "median_s": median,
        "all_s": times,
        "speed_ratio": median["torch"] / median["sparknn"],  # >1: sparknn faster
        "max_output_diff": out_err,
        "kernel_grad_rel_diff": grad_err,
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.threads[0], args.repeats)))
        return 0

    print(
        f"LSTM({UNITS}) forward+backward, batch {BATCH} x {STEPS} steps x {SYMBOLS}-symbol one-hot"
    )
    print(f"median of {args.repeats} alternating runs per side\n")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        "threads  sparknn-numpy [min-max]      torch-cpu [min-max]          speed (torch/sparknn)"
    )
    for threads in args.threads:
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        command = [sys.executable, __file__, "--worker", "--threads", str(threads)]
        command += ["--repeats", str(args.repeats)]
        result = json.loads(
            subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        )
        cells = []
        for name in ("sparknn", "torch"):
            runs = [t * 1e3 for t in result["all_s"][name]]
            cells.append(
                f"{result['median_s'][name] * 1e3:7.1f} ms [{min(runs):6.1f}-{max(runs):6.1f}]"
            )
        print(f"{threads:>7}  {cells[0]}   {cells[1]}   {result['speed_ratio']:.2f}x")
    print(
        f"\n(numpy {result['numpy']}, torch {result['torch']}; outputs agree to "
        f"{result['max_output_diff']:.1e}, kernel gradients to "
        f"{result['kernel_grad_rel_diff']:.1e} relative)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

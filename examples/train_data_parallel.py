"""Data-parallel HEM-AAE training on JAX: several devices, or several processes.

Each global batch is split between the devices (and processes); the training
step runs on the global batch, so the miner picks its triplets over the whole
batch, as in a one-device run.

    # one process, the CPU shown as 2 devices
    KERAS_BACKEND=jax python examples/train_data_parallel.py --devices 2

    # 2 processes on this machine, joined on 127.0.0.1 (the script starts both)
    KERAS_BACKEND=jax python examples/train_data_parallel.py --processes 2

    # one process of a multi-machine job (once per machine, own --process-id)
    KERAS_BACKEND=jax python examples/train_data_parallel.py --processes 2 \
        --process-id 0 --coordinator 10.0.0.1:12345

Process 0 prints (and with `--out`, writes) the per-epoch losses and a checksum
of the weights.
"""

import argparse
import json
import os
import socket
import subprocess
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--devices", type=int, default=1, help="host devices per process (CPU)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="number of processes"
    )
    parser.add_argument(
        "--process-id", type=int, default=None, help="this process's index"
    )
    parser.add_argument(
        "--coordinator", default=None, help="host:port of process 0"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--items", type=int, default=128, help="rows of the synthetic matrix"
    )
    parser.add_argument(
        "--out", default=None, help="JSON file for process 0's results"
    )
    return parser.parse_args(argv)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(args):
    """Start `--processes` copies of this script on 127.0.0.1; wait for them."""
    coordinator = f"127.0.0.1:{free_port()}"
    children = []
    for process_id in range(args.processes):
        command = [sys.executable, __file__, *sys.argv[1:]]
        command += [
            "--process-id",
            str(process_id),
            "--coordinator",
            coordinator,
        ]
        children.append(subprocess.Popen(command))
    codes = [child.wait(timeout=600) for child in children]
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")


def train(args):
    if args.devices > 1:  # must be set before JAX starts
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={args.devices}"
        )
    import jax

    if args.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras
    import numpy as np

    if keras.backend.backend() != "jax":
        raise SystemExit(
            "keras.distribution data parallelism needs KERAS_BACKEND=jax"
        )
    if args.processes > 1:
        keras.distribution.initialize(
            job_addresses=args.coordinator,
            num_processes=args.processes,
            process_id=args.process_id,
        )
    from keras_hem import HEMAAE
    from keras_hem.datasets.synthetic import low_rank_ratings

    devices = keras.distribution.list_devices()
    if len(devices) > 1:
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices)
        )
    ratings = low_rank_ratings(
        n_items=args.items, n_users=60, density=0.3, seed=0
    )
    model = HEMAAE(hidden=16, seed=0)
    model.compile()
    model.build((None, ratings.shape[1]))
    # The same initial weights in every process and every layout.
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            rng.uniform(-0.2, 0.2, w.shape).astype("float32")
            for w in model.get_weights()
        ]
    )
    history = model.fit(
        ratings, epochs=args.epochs, batch_size=args.batch_size, verbose=0
    )
    weights = model.get_weights()
    result = {
        "devices": len(devices),
        "processes": jax.process_count(),
        "history": {
            k: [float(x) for x in v] for k, v in history.history.items()
        },
        "weight_sums": [float(np.sum(w)) for w in weights],
    }
    if jax.process_index() == 0:
        print(json.dumps(result))
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f)


def main(argv=None):
    args = parse_args(argv)
    if args.processes > 1 and args.process_id is None:
        launch_local(args)
    else:
        train(args)


if __name__ == "__main__":
    main()

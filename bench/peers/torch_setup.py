"""Shared by the PyTorch peers: takes THREADS from argv[1], sets torch's thread count and prints,
as the peer's first JSON line, the torch version and the OpenBLAS build and kernel that run.
Returns the peer's own arguments (argv[2:])."""
import ctypes, json, sys
import torch


def setup():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    print(json.dumps({"config": {"torch": torch.__version__, "threads": threads, "blas": openblas()}}), flush=True)
    return sys.argv[2:]


def openblas():
    """The OpenBLAS library torch loaded, asked through its own API (as threadpoolctl does)."""
    with open("/proc/self/maps") as f:
        path = next((l.split()[-1] for l in f if "libopenblas" in l), None)
    if path is None:
        return "no OpenBLAS loaded: " + torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]
    lib = ctypes.CDLL(path)
    lib.openblas_get_corename.restype = lib.openblas_get_config.restype = ctypes.c_char_p
    return f"{lib.openblas_get_config().decode().strip()}; kernel {lib.openblas_get_corename().decode()}, {lib.openblas_get_num_threads()} threads"

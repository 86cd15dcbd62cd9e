import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lossext.distributed import global_normalizer


def test_no_process_group_is_identity_clamped():
    assert not dist.is_initialized()
    out = global_normalizer(torch.tensor(5))
    assert out.dtype == torch.float32 and out.item() == 5.0
    assert global_normalizer(0).item() == 1.0
    x = torch.tensor(3.0)
    global_normalizer(x)
    assert x.item() == 3.0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, results):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        mine = torch.tensor([3, 0][rank])  # int64 count, as (labels >= 0).sum() gives
        results[rank] = (
            global_normalizer(mine).item(),
            global_normalizer(mine, average=False).item(),
            global_normalizer(torch.tensor(0.0)).item(),
            mine.item(),
        )
    finally:
        dist.destroy_process_group()


def test_two_processes_gloo():
    world = 2
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(world, _free_port(), results), nprocs=world, join=True)
        results = dict(results)
    for rank in range(world):
        mean, total, clamped, untouched = results[rank]
        assert mean == 1.5 and total == 3.0 and clamped == 1.0
        assert untouched == [3, 0][rank]

import math
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from sphmask.engine import dist
from sphmask.engine.schedule import constant_then_cosine, scaled_lr
from sphmask.engine.trainer import Trainer, TrainSettings, seed_everything


class ToyModel(torch.nn.Module):
    """Returns a dict of named losses in training mode, like the real model."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def forward(self, batch):
        pred = self.net(batch["x"]).squeeze(1)
        losses = {"mse": ((pred - batch["y"]) ** 2).mean(), "l1": (pred - batch["y"]).abs().mean() * 0.1}
        losses["loss"] = losses["mse"] + losses["l1"]
        return losses


class NoisyDataset(torch.utils.data.Dataset):
    """Draws augmentation noise from the global NumPy and torch generators, as real augmentation does."""

    def __init__(self, n=12):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x.sum(1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = torch.from_numpy(np.random.normal(0, 0.01, 4).astype(np.float32)) + 0.01 * torch.randn(4)
        return {"x": self.x[i] + noise, "y": self.y[i]}


def make_trainer(work_dir, epochs, seed=0, grad_accum=2):
    seed_everything(seed)
    model = ToyModel()
    data = NoisyDataset()
    # The shuffle order must be a function of (seed, epoch), as DistributedSampler's is, to resume exactly.
    sampler = torch.utils.data.DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=3, sampler=sampler)
    settings = TrainSettings(epochs=epochs, step_epoch=1, lr=0.01, scale_lr=False, grad_accum=grad_accum,
                             log_interval=1000)
    return Trainer(model, loader, settings, str(work_dir), torch.device("cpu"), batch_size=3)


def test_lr_schedule_constant_then_cosine_to_min():
    assert constant_then_cosine(1e-3, 0, 50, 300) == 1e-3
    assert constant_then_cosine(1e-3, 49, 50, 300) == 1e-3
    assert constant_then_cosine(1e-3, 50, 50, 300) == pytest.approx(1e-3)
    assert constant_then_cosine(1e-3, 175, 50, 300) == pytest.approx(1e-6 + 0.5 * (1e-3 - 1e-6))
    assert constant_then_cosine(1e-3, 300, 50, 300) == pytest.approx(1e-6)


def test_official_lr_scaling():
    assert scaled_lr(0.001, 12, 1) == pytest.approx(0.00075)


def test_gradient_accumulation_steps_every_k_iterations_and_at_epoch_end(tmp_path):
    t = make_trainer(tmp_path, epochs=1, grad_accum=3)  # 4 iterations -> steps after 3 and 4
    steps = []
    orig = t.optimizer.step

    def counting_step(*a, **k):
        steps.append(t.global_iter)
        return orig(*a, **k)

    t.optimizer.step = counting_step
    t.fit()
    assert steps == [2, 3]  # global_iter counts completed iterations before the increment


def test_resume_continues_bit_for_bit(tmp_path):
    full = make_trainer(tmp_path / "full", epochs=4)
    full.fit()

    first = make_trainer(tmp_path / "split", epochs=2)
    first.fit()
    second = make_trainer(tmp_path / "split", epochs=4, seed=123)  # different seed: state must come from the file
    second.resume(str(tmp_path / "split" / "latest.pth"))
    second.fit()

    assert first.history + second.history == full.history
    for a, b in zip(full.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_holds_config_version_and_loads_weights_only(tmp_path):
    t = make_trainer(tmp_path, epochs=1)
    t.config = {"model": {"channels": 4}}
    t.fit()
    ckpt = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["meta"]["config"] == {"model": {"channels": 4}}
    assert ckpt["meta"]["version"]
    assert set(ckpt) >= {"net", "optimizer", "scheduler", "epoch", "meta"}


def test_interrupted_save_keeps_previous_latest(tmp_path, monkeypatch):
    t = make_trainer(tmp_path, epochs=1)
    t.fit()
    before = torch.load(tmp_path / "latest.pth", weights_only=True)["epoch"]

    def killed(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    t.epoch = 5
    with pytest.raises(KeyboardInterrupt):
        t.save("latest.pth")
    monkeypatch.undo()
    assert torch.load(tmp_path / "latest.pth", weights_only=True)["epoch"] == before
    assert os.listdir(tmp_path) == ["latest.pth"]  # no temporary file left behind


def test_resume_from_weights_only_file_is_refused(tmp_path):
    t = make_trainer(tmp_path, epochs=1)
    torch.save({"net": t.model.state_dict()}, tmp_path / "w.pth")
    with pytest.raises(ValueError, match="lacks"):
        t.resume(str(tmp_path / "w.pth"))


def test_non_finite_loss_stops_with_location(tmp_path):
    t = make_trainer(tmp_path, epochs=1)
    t.loader.dataset.y[0] = math.inf
    with pytest.raises(FloatingPointError, match="epoch 1 iteration"):
        t.fit()


# ------------------------------------------------------------------ distributed (2 gloo processes)
SHARDS = [torch.arange(12, dtype=torch.float32).view(3, 4) / 10, -torch.arange(12, dtype=torch.float32).view(3, 4) / 7]


def _ddp_worker(rank, init_file, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(ToyModel())
    x = SHARDS[rank]
    loader = [{"x": x, "y": x.sum(1)}]
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.05, scale_lr=False, log_interval=1000)
    t = Trainer(model, loader, settings, out_dir, torch.device("cpu"), batch_size=3)
    t.fit()
    torch.save(model.module.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    dist.cleanup()


def test_two_gloo_processes_equal_single_process_with_averaged_gradients(tmp_path):
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)

    torch.manual_seed(0)
    model = ToyModel()
    grads = []
    for x in SHARDS:
        model.zero_grad()
        model({"x": x, "y": x.sum(1)})["loss"].backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for p, g0, g1 in zip(model.parameters(), *grads):
        p.grad = (g0 + g1) / 2
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=1e-4)
    opt.step()

    for k, v in model.state_dict().items():
        assert torch.equal(r0[k], r1[k]), k
        torch.testing.assert_close(r0[k], v, rtol=1e-6, atol=1e-7)

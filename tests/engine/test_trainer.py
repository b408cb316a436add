import math
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from sphmask.checkpoint import CheckpointError
from sphmask.engine import dist
from sphmask.engine.run_state import seed_everything
from sphmask.engine.schedule import constant_then_cosine, scaled_lr
from sphmask.engine.trainer import Trainer, TrainSettings


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
    with pytest.raises(CheckpointError, match="lacks"):
        t.resume(str(tmp_path / "w.pth"))


def test_resume_from_checkpoint_with_nan_weights_is_refused(tmp_path):
    t = make_trainer(tmp_path, epochs=1)
    t.fit()
    ckpt = torch.load(tmp_path / "latest.pth", weights_only=True)
    key = next(iter(ckpt["net"]))
    ckpt["net"][key] = torch.full_like(ckpt["net"][key], math.nan)
    torch.save(ckpt, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match=f"checkpoint tensor {key} .* NaN or inf"):
        make_trainer(tmp_path, epochs=1).resume(str(tmp_path / "nan.pth"))


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


# ------------------------------------------------------------------ skipped batches, step budget, temp files
class SometimesEmptyModel(ToyModel):
    """ToyModel whose loss has no graph on batches flagged ``empty``, like the real model when a frozen
    backbone finds no object voxels."""

    def forward(self, batch):
        if bool(batch["empty"].any()):
            return {"loss": torch.zeros(())}
        return super().forward(batch)


def _empty_every(n_batches, empty):
    x = torch.randn(n_batches, 3, 4, generator=torch.Generator().manual_seed(0))
    return [{"x": x[i], "y": x[i].sum(1), "empty": torch.tensor([i in empty])} for i in range(n_batches)]


def test_batch_without_gradient_is_a_skipped_counted_step_not_a_crash(tmp_path, caplog):
    torch.manual_seed(0)
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.01, scale_lr=False, log_interval=1000, max_skip_fraction=0.1)
    t = Trainer(SometimesEmptyModel(), _empty_every(4, {1, 3}), settings, str(tmp_path), torch.device("cpu"), 3)
    with caplog.at_level("INFO", logger="sphmask.train"):
        t.fit()
    assert (t.skipped, t.global_step, t.global_iter, t.samples) == (2, 2, 4, 12)
    assert "iter 2/4 skipped" in caplog.text
    assert "trained 2 optimizer steps over 1 epoch(s): 4 iterations, 12 samples seen, 2 skipped" in caplog.text
    assert "50% of the batches (2 of 4) were skipped" in caplog.text


def test_skip_share_within_the_limit_is_not_reported(tmp_path, caplog):
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.01, scale_lr=False, log_interval=1000, max_skip_fraction=0.5)
    t = Trainer(SometimesEmptyModel(), _empty_every(4, {1}), settings, str(tmp_path), torch.device("cpu"), 3)
    with caplog.at_level("INFO", logger="sphmask.train"):
        t.fit()
    assert t.skipped == 1 and "were skipped" not in caplog.text


def test_skipped_batch_leaves_the_accumulation_group_open(tmp_path):
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.01, scale_lr=False, grad_accum=2, log_interval=1000)
    t = Trainer(SometimesEmptyModel(), _empty_every(5, {1}), settings, str(tmp_path), torch.device("cpu"), 3)
    t.fit()
    assert t.global_step == 2  # batches {0, 2}, then {3, 4}


def test_frozen_backbone_that_sees_no_objects_skips_instead_of_crashing(tmp_path):
    """Regression: stage 2 crashed with 'element 0 of tensors does not require grad' when the frozen
    backbone found no object voxels (the zero fallback loss had no graph)."""
    import sphmask
    from sphmask.config import load_config
    from sphmask.models import BACKBONE_MODULES
    from sphmask.models.testing import make_batch, synthetic_room

    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "testing", "tiny.yaml"))
    # No superpoint reaches an instance-class probability of 1: the backbone sees no object voxels.
    cfg["model"].update(fixed_modules=list(BACKBONE_MODULES), filter_bg_thresh=1.0, loss={"pointwise_weight": 0.0})
    torch.manual_seed(0)
    model = sphmask.build_model(cfg)
    batch = make_batch([synthetic_room(2000, num_objects=3, seed=0)])
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.01, scale_lr=False, log_interval=1000)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = Trainer(model, [batch, batch], settings, str(tmp_path), torch.device("cpu"), 1)
    t.fit()
    assert (t.skipped, t.global_step) == (2, 0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.endswith("num_batches_tracked"))


def _step_trainer(work_dir, max_steps, grad_accum=1):
    seed_everything(0)
    data = NoisyDataset()
    sampler = torch.utils.data.DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=3, sampler=sampler)  # 4 iterations per epoch
    settings = TrainSettings(lr=0.01, scale_lr=False, grad_accum=grad_accum, log_interval=1000, max_steps=max_steps,
                             constant_steps=2, min_lr=0.0)
    return Trainer(ToyModel(), loader, settings, str(work_dir), torch.device("cpu"), batch_size=3)


def test_step_budget_stops_mid_epoch_and_lr_follows_the_steps(tmp_path, caplog):
    t = _step_trainer(tmp_path, max_steps=6)
    seen = []
    step = t.optimizer.step

    def record(*a, **k):
        seen.append(t.optimizer.param_groups[0]["lr"])
        return step(*a, **k)

    t.optimizer.step = record
    with caplog.at_level("INFO", logger="sphmask.train"):
        t.fit()
    assert (t.global_step, t.global_iter, t.epoch, t.samples) == (6, 6, 2, 18)
    assert seen == pytest.approx([constant_then_cosine(0.01, k, 2, 6, 0.0) for k in range(6)])
    assert seen[:3] == [0.01] * 3 and seen[-1] < seen[3] < 0.01
    assert "training budget: 6 optimizer steps" in caplog.text
    assert "trained 6 optimizer steps over 2 epoch(s): 6 iterations, 18 samples seen, 0 skipped" in caplog.text
    assert torch.load(tmp_path / "latest.pth", weights_only=True)["step"] == 6


def test_step_budget_counts_optimizer_steps_with_accumulation(tmp_path):
    t = _step_trainer(tmp_path, max_steps=3, grad_accum=2)
    t.fit()
    assert (t.global_step, t.global_iter) == (3, 6)


def test_step_budget_resume_continues_bit_for_bit(tmp_path):
    full = _step_trainer(tmp_path / "full", max_steps=10)
    full.fit()
    part = _step_trainer(tmp_path / "part", max_steps=10)
    part.train_epoch()  # interrupted after the first epoch's checkpoint
    part.epoch += 1
    part.save("latest.pth")
    resumed = _step_trainer(tmp_path / "part", max_steps=10)
    resumed.resume(str(tmp_path / "part" / "latest.pth"))
    resumed.fit()
    assert resumed.global_step == 10 and resumed.samples == full.samples
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_stale_temp_files_of_our_naming_are_removed_others_kept(tmp_path):
    from sphmask.engine.run_state import remove_stale_temp_files
    from sphmask.io.atomic import atomic_path

    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(tmp_path / "latest.pth")) as tmp:
            stale = os.path.basename(tmp)
            raise KeyboardInterrupt
    # What SIGKILL leaves (atomic_path's own cleanup never ran): 0-byte files of its naming.
    for name in (stale, ".tmp-latest.pth-abc_1234", ".tmp-epoch_3.pth-zz9y8x7w"):
        (tmp_path / name).write_bytes(b"")
    keep = [".tmp-notes", ".tmp-latest.pth-SHORT", "my.tmp-x-abcdefgh", "latest.pth", ".tmp-x-abcdefghi"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".tmp-dir-abcdefgh").mkdir()
    removed = remove_stale_temp_files(str(tmp_path))
    assert sorted(removed) == sorted({stale, ".tmp-latest.pth-abc_1234", ".tmp-epoch_3.pth-zz9y8x7w"})
    assert sorted(os.listdir(tmp_path)) == sorted(keep + [".tmp-dir-abcdefgh"])


def test_resume_failures_are_checkpoint_errors(tmp_path):
    t = make_trainer(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        t.resume(str(tmp_path / "missing.pth"))
    t.save("latest.pth")
    data = (tmp_path / "latest.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable weights-only checkpoint"):
        t.resume(str(tmp_path / "cut.pth"))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"net": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="not a readable weights-only checkpoint"):
        t.resume(str(tmp_path / "evil.pth"))
    other = Trainer(torch.nn.Linear(2, 2), [], t.s, str(tmp_path), torch.device("cpu"), 3)
    with pytest.raises(CheckpointError, match="does not fit this config's model"):
        other.resume(str(tmp_path / "latest.pth"))


def _ddp_skip_worker(rank, init_file, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(SometimesEmptyModel(), find_unused_parameters=True)
    # Only rank 0 finds its second batch empty: both processes must skip it together.
    loader = _empty_every(3, {1} if rank == 0 else set())
    settings = TrainSettings(epochs=1, step_epoch=1, lr=0.05, scale_lr=False, log_interval=1000)
    t = Trainer(model, loader, settings, out_dir, torch.device("cpu"), batch_size=3)
    t.fit()
    torch.save({"net": model.module.state_dict(), "skipped": t.skipped, "steps": t.global_step},
               os.path.join(out_dir, f"skip{rank}.pt"))
    dist.cleanup()


def test_ddp_processes_skip_a_batch_together_when_one_has_no_gradient(tmp_path):
    mp.spawn(_ddp_skip_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"skip{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["skipped"], r0["steps"]) == (r1["skipped"], r1["steps"]) == (1, 2)
    for k, v in r0["net"].items():
        assert torch.equal(v, r1["net"][k]), k


def test_progress_names_the_last_checkpoint_for_an_interrupted_run(tmp_path):
    from sphmask.cli import Progress

    t = make_trainer(tmp_path, epochs=2)
    t.progress = Progress()
    t.fit()
    assert t.progress.message == f"{tmp_path / 'latest.pth'} holds epoch 2 (step 4); continue with --resume"

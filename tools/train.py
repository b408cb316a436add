"""Train Spherical Mask (or its backbone) from a YAML config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--trainall] [--only-backbone]
                          [--skip-validate] [--seed N] [--device auto|cpu|cuda] [--set key=value ...]

Several processes (GPUs, or CPU processes with gloo), on one or several machines, via torchrun:

    torchrun --nproc_per_node 4 tools/train.py CONFIG ...
    torchrun --nnodes 2 --node_rank 0 --rdzv_endpoint HOST:29500 --nproc_per_node 8 tools/train.py CONFIG ...

Writes DIR/train.log (resolved config first), DIR/tb/ (TensorBoard), DIR/latest.pth after every
epoch and DIR/best.pth when validation AP (semantic-only training: mIoU) improves. Errors in the
config, the data or the --resume checkpoint end the run with one line (exit 2; --debug for the
traceback). See docs/training.md.
"""
import argparse
import logging
import os
import sys

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from sphmask.cli import DEBUG_HELP, Progress, run_tool  # noqa: E402
from sphmask.config import get_section, instantiate, load_config  # noqa: E402
from sphmask.data import build_dataloader  # noqa: E402
from sphmask.engine import dist  # noqa: E402
from sphmask.engine.inference import run_inference  # noqa: E402
from sphmask.engine.run_state import default_work_dir, remove_stale_temp_files, seed_everything  # noqa: E402
from sphmask.engine.trainer import Trainer, TrainSettings  # noqa: E402
from sphmask.models import build_model, check_config  # noqa: E402
from sphmask.models.build import config_keys  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, epilog=DEBUG_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--work-dir", help="output folder (default: work_dirs/<config name>)")
    p.add_argument("--resume", nargs="?", const="latest", metavar="CKPT",
                   help="continue a run: a checkpoint path, or no value for WORK_DIR/latest.pth")
    p.add_argument("--trainall", action="store_true",
                   help="train every module (fixed_modules=[]), as the official recipe does")
    p.add_argument("--only-backbone", action="store_true",
                   help="semantic-only backbone training (backbone + point-wise heads)")
    p.add_argument("--skip-validate", action="store_true", help="no validation during training")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.epochs=2")
    return p.parse_args(argv)


def setup_logging(work_dir: str) -> logging.Logger:
    log = logging.getLogger("sphmask.train")
    log.setLevel(logging.INFO)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    if dist.is_main():
        os.makedirs(work_dir, exist_ok=True)
        for h in (logging.FileHandler(os.path.join(work_dir, "train.log")), logging.StreamHandler(sys.stdout)):
            h.setFormatter(fmt)
            log.addHandler(h)
    else:
        log.addHandler(logging.NullHandler())
    return log


def open_tensorboard(work_dir: str, log: logging.Logger):
    if not dist.is_main():
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: no TensorBoard scalars (pip install tensorboard)")
        return None
    return SummaryWriter(os.path.join(work_dir, "tb"))


#: What an interrupted run has completed (printed by run_tool on Ctrl-C).
PROGRESS = Progress()


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.set, schema=config_keys)
    check_config(cfg)  # first: a config without a model section is refused before it is edited
    if args.trainall or args.only_backbone:
        cfg["model"]["fixed_modules"] = []
    if args.only_backbone:
        cfg["model"]["semantic_only"] = True
    seed = args.seed if args.seed is not None else int(cfg.get("seed", 0))
    cfg["seed"] = seed
    check_config(cfg)
    work_dir = args.work_dir or default_work_dir(args.config)
    resume = None
    if args.resume:
        resume = os.path.join(work_dir, "latest.pth") if args.resume == "latest" else args.resume
        if not os.path.isfile(resume):
            raise CheckpointError(f"--resume: no checkpoint at {resume}")

    device = dist.init_from_env(args.device)
    seed_everything(seed + dist.rank())
    log = setup_logging(work_dir)
    PROGRESS.set(f"no checkpoint written yet in {work_dir}")
    if dist.is_main():
        stale = remove_stale_temp_files(work_dir)
        if stale:
            log.info("removed %d temporary file(s) an interrupted run left in %s: %s", len(stale), work_dir,
                     ", ".join(stale))
    log.info("resolved config (%s):\n%s", args.config, yaml.safe_dump(cfg, sort_keys=False))
    log.info("device %s, %d process(es)", device, dist.world_size())

    settings = instantiate(TrainSettings, get_section(cfg, "train") if "train" in cfg else {}, "train")
    model = build_model(cfg).to(device)
    semantic_only = model.semantic_only
    pretrain = cfg.get("pretrain")
    if pretrain and not resume:
        report = load_checkpoint(model, pretrain, mode=cfg.get("pretrain_mode", "backbone"))
        log.info("pretrained weights from %s: %s", pretrain, report.summary())
    if dist.world_size() > 1:
        # Dead modules kept for the official state dict get no gradient, hence find_unused_parameters.
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)

    train_loader = build_dataloader(cfg, "train", seed=seed, rank=dist.rank(), world_size=dist.world_size())
    batch_size = get_section(cfg, "dataloader.train").get("batch_size", 1)
    validate = None
    if not args.skip_validate and settings.validate_every:
        val_loader = build_dataloader(cfg, "test", rank=dist.rank(), world_size=dist.world_size())
        classes = val_loader.dataset.classes

        def validate(raw_model, epoch):
            out = run_inference(raw_model, val_loader, device, classes.name,
                                semantic_class_names=classes.semantic_names, progress=False)
            metrics = {}
            # A semantic-only network predicts no instances: its AP table would be all zeros.
            if out["instance"] is not None and not semantic_only:
                log.info("validation after epoch %d:\n%s", epoch, out["instance"].format_table())
                metrics.update(out["instance"].averages())
            if out["semantic"] is not None:
                if semantic_only:
                    log.info("semantic validation after epoch %d:\n%s", epoch, out["semantic"].format_table())
                metrics.update({k: v for k, v in out["semantic"].to_dict().items() if isinstance(v, float)})
            return metrics

    trainer = Trainer(model, train_loader, settings, work_dir, device, batch_size, config=cfg, validate=validate,
                      logger=log, tensorboard=open_tensorboard(work_dir, log),
                      best_metric="miou" if semantic_only else "ap", progress=PROGRESS)
    if resume:
        trainer.resume(resume)
    trainer.fit()
    log.info("finished: %s", os.path.join(work_dir, "latest.pth"))
    dist.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main, progress=PROGRESS))

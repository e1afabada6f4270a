"""Our rows beside the literature's: the paper recipes (recipes/papers/) on the PTB-XL benchmark.

Every model is scored in one harness on the ``ptbxl`` task (Strodthoff et al. 2021 protocol:
folds 1-8 train, 9 validation, 10 test; 2.5 s windows every 1.25 s; records scored by the
maximum of their windows; macro AUROC with the patient bootstrap):

* linear evaluation on ``all`` statements, next to Mehari & Strodthoff 2022 Table 3;
* linear evaluation on ``superdiagnostic``, paired against MiniRocket in the same harness;
* fine-tuning at ``--fractions`` of the training labels (default 1 %, 10 %, 100 %; drawn by
  record) on ``superdiagnostic`` (model selection on fold 9), paired against the same encoder
  trained from scratch with the same budget.

Pretraining (no labels) copies each paper recipe, with two changes said in every row: the data
are the samples at hand (PTB-XL ecg_id 1-500 folds 1-8, the CinC 2021 sample, MIT-BIH DS1, the
SVDB "train" half, missing leads masked) and the budget is ``--steps`` x ``--batch`` (the papers:
tens of thousands of steps on a GPU). CPC uses its strided local encoder on 2.5 s windows here
(the paper's per-sample encoder on 10 s windows runs at ~5 windows/s on two CPU cores).

Resumable: finished runs and evaluations are skipped. CI never runs this.

    nohup python benchmarks/literature.py --out benchmark-literature > literature.log 2>&1 &

The full-data command of each row (a GPU, a full PTB-XL at /data/ptb-xl) is printed with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PTBXL = DATA / "ptbxl-500"
EXTRA_SOURCES = [
    {"name": "mitbih", "root": str(DATA / "mitbih-arrhythmia"), "split": "DS1"},
    {"name": "svdb", "root": str(DATA / "svdb"), "split": "train", "lead_map": {"ECG1": "II"}},
]


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    recipe: str  # under recipes/papers/
    published_linear: float | None  # PTB-XL all statements, fold 10, macro AUROC
    published_finetuned: float | None = None
    sets: tuple[str, ...] = ()  # our deviations for the CPU budget (said in the table)


ROWS = [
    Row("SimCLR (Mehari 2022)", "mehari_simclr.toml", 0.883),
    Row("BYOL (Mehari 2022)", "mehari_byol.toml", 0.878),
    Row(
        "CPC (Mehari 2022)",
        "mehari_cpc.toml",
        0.927,
        0.942,
        ("encoder.local=strided", "data.window_s=2.5", "data.stride_s=1.25"),
    ),
]
PUBLISHED_RANDOM = 0.721  # random-init xresnet1d50, linear evaluation (Mehari 2022 Table 3)
PUBLISHED_SUPERVISED = {"all": 0.925, "superdiagnostic": 0.928}  # xresnet1d101, Strodthoff 2021


def sh(cmd: list[str], log: Path) -> None:
    """Run a CLI command, its output appended to ``log``; CalledProcessError if it fails."""
    print("+", " ".join(cmd), flush=True)
    with log.open("a") as f:
        f.write("+ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if rc:
        print(f"failed ({rc}): {' '.join(cmd)}; see {log}", file=sys.stderr, flush=True)
        raise subprocess.CalledProcessError(rc, cmd)


def pretrain_recipe(row: Row, out: Path) -> Path:
    """The paper recipe with the samples at hand as pretraining data (absolute roots)."""
    src = REPO / "recipes" / "papers" / row.recipe
    recipe = tomllib.loads(src.read_text())
    for s in recipe["data"]["sources"]:
        s["root"] = str((src.parent / s["root"]).resolve())
    recipe["data"]["sources"] += EXTRA_SOURCES
    path = out / f"{src.stem}.toml"
    path.write_text(f"# {row.recipe} with this benchmark's pretraining data\n"
                    + tomli_w.dumps(recipe))  # fmt: skip
    return path


def evaluate(model: str, out: Path, log: Path, labels: str, protocol: str, fraction: str,
             recipe: Path | None, compare: list[str], steps: int) -> dict[str, Any]:  # fmt: skip
    """``ssl-ecg evaluate`` on the ptbxl task (skipped when its results exist)."""
    if not (out / "results.json").is_file():
        cmd = [
            "ssl-ecg",
            "evaluate",
            model,
            "--task",
            "ptbxl",
            "--set",
            f"root={PTBXL}",
            "--set",
            f"labels={labels}",
            "--set",
            "window_s=2.5",
            "--protocol",
            protocol,
            "--label-fraction",
            fraction,
            "--out",
            str(out),
            "--finetune-steps",
            str(steps),
        ]
        cmd += ["--recipe", str(recipe)] if recipe else []
        for c in compare:
            cmd += ["--compare", c]
        sh(cmd, log)
    return json.loads((out / "results.json").read_text())


def headline(summary: dict[str, Any], vs: str | None = None) -> dict[str, Any]:
    (r,) = next(iter(summary["results"].values())).values()
    out = {
        "auroc": r["macro_auroc"],
        "ci": r["ci"]["macro_auroc"],
        "also": {k: v.get("macro_auroc") for k, v in (r.get("also") or {}).items()},
    }
    if vs:
        d = (r.get("delta") or {}).get(vs) or {}
        out["delta"] = d.get("macro_auroc") or {}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmark-literature")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--fractions", default="0.01,0.1,1", help="fine-tuning label fractions")
    parser.add_argument("--pretrain-only", action="store_true", help="only the pretraining runs")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    t0 = time.time()
    table: dict[str, Any] = {"steps": args.steps, "batch": args.batch, "rows": {}}
    ref = pretrain_recipe(ROWS[0], out)  # data contract of the baselines (xresnet1d50)
    ev = {"labels": "all", "protocol": "linear", "fraction": "1"}
    sup_lin = {"labels": "superdiagnostic", "protocol": "linear", "fraction": "1"}
    fractions = [f.strip() for f in args.fractions.split(",") if f.strip()]

    def score(name: str, model: str, recipe: Path | None, lin_vs: list[str],
              ft_vs: dict[str, str]) -> None:  # fmt: skip
        """Linear (all, superdiagnostic) and fine-tuning rows; ``ft_vs``: fraction -> folder."""
        lin = evaluate(model, out / name / "linear-all", log, **ev, recipe=recipe,
                       compare=lin_vs, steps=args.finetune_steps)  # fmt: skip
        row: dict[str, Any] = {"linear_all": headline(lin, "random" if lin_vs else None)}
        vs_rocket = (
            [] if model == "minirocket" else [f"minirocket={out / 'minirocket' / 'linear-super'}"]
        )
        lin = evaluate(model, out / name / "linear-super", log, **sup_lin, recipe=recipe,
                       compare=vs_rocket, steps=args.finetune_steps)  # fmt: skip
        row["linear_super"] = headline(lin, "minirocket" if vs_rocket else None)
        for fraction in fractions if model not in ("minirocket", "handcrafted") else []:
            tag = percent(fraction)
            ran = tag in ft_vs and (Path(ft_vs[tag]) / "results.json").is_file()
            vs = [f"supervised={ft_vs[tag]}"] if ran else []
            ft = {"labels": "superdiagnostic", "protocol": "finetune", "fraction": fraction}
            try:
                fin = evaluate(model, out / name / f"finetune-super-{tag}", log, **ft,
                               recipe=recipe, compare=vs, steps=args.finetune_steps)  # fmt: skip
            except subprocess.CalledProcessError as exc:
                row[f"finetune_super_{tag}"] = {"error": f"exit {exc.returncode}, see {log}"}
                continue
            row[f"finetune_super_{tag}"] = headline(fin, "supervised" if vs else None)
        table["rows"][name] = row
        (out / "results.json").write_text(json.dumps(table, indent=1))

    if not args.pretrain_only:
        for base in ("minirocket", "handcrafted"):
            score(base, base, ref, [], {})
        score("random-xresnet1d50", "random", ref, [], {})
    for row in ROWS:
        name = Path(row.recipe).stem
        recipe = pretrain_recipe(row, out)
        run = out / name / "run"
        sets = [
            f"train.steps={args.steps}",
            f"train.batch_size={args.batch}",
            f"train.checkpoint_every={args.steps}",
            "train.log_every=50",
            *row.sets,
        ]
        if not (run / "loss.png").exists():  # written when a run ends
            cmd = ["ssl-ecg", "train", str(recipe), "--run-dir", str(run)]
            cmd += ["--resume"] if (run / "checkpoints" / "last.pt").exists() else []
            for s in sets:
                cmd += ["--set", s]
            sh(cmd, log)
        if args.pretrain_only:
            continue
        baseline_sets = [s for s in row.sets if s.startswith("encoder.")]
        # the same encoder at random init / trained from scratch (its own architecture)
        rand = "random-xresnet1d50"
        if baseline_sets:
            rand = f"{name}-random"
            score(rand, "random", _with_sets(recipe, baseline_sets, out), [], {})
        sup = {percent(f): str(out / rand / f"finetune-super-{percent(f)}")
               for f in fractions}  # fmt: skip
        lin_vs = [f"random={out / rand / 'linear-all'}"]
        if baseline_sets:
            lin_vs.append(f"random-xresnet1d50={out / 'random-xresnet1d50' / 'linear-all'}")
        score(name, str(run), None, lin_vs, sup)
    table["wall_s"] = round(time.time() - t0)
    (out / "results.json").write_text(json.dumps(table, indent=1))
    print(json.dumps(table, indent=1))


def percent(fraction: str) -> str:
    """'0.1' -> '10': the tag of a label fraction in folder and row names."""
    return f"{float(fraction) * 100:g}"


def _with_sets(recipe: Path, sets: list[str], out: Path) -> Path:
    """A copy of ``recipe`` with ``section.key=value`` settings applied (strings only)."""
    data = tomllib.loads(recipe.read_text())
    for s in sets:
        key, value = s.split("=", 1)
        section, name = key.split(".", 1)
        data.setdefault(section, {})[name] = value
    path = out / f"{recipe.stem}-baseline.toml"
    path.write_text(tomli_w.dumps(data))
    return path


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"stopped: {' '.join(exc.cmd)} failed ({exc.returncode})")

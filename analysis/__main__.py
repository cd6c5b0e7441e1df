"""Command line: /usr/bin/python3 -m analysis COMMAND RESULTS.h5 [MORE.h5 ...] --out DIR

  report       every figure and table for the experiment kinds in the file, and DIR/index.html
  convergence  kernel-convergence heatmaps, curves and table only
  regression   hyperkernel-regression table and figure only
  training     hypernet-training curves and table only
  completion   image-completion MSE tables, MSE against U, example images
  inpainting   image-inpainting MSE tables, MSE against U, example images
  rotation     rotation accuracy per epoch per width of g, and its table
  dynamics     finite against infinite-width training trajectories, distance against width, table
  snapshots    pictures and spectra of the kernel snapshots only

Several results files (one per sweep: hksweep merges one sweep at a time) are
read as one table.
"""
import argparse
import os
import sys

from .results import AnalysisError, Results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["report", "convergence", "regression", "training", "completion",
                                                        "inpainting", "rotation", "dynamics", "snapshots"])
    parser.add_argument("results", nargs="+", help="results.h5 files written by hksweep run or hksweep merge")
    parser.add_argument("--out", required=True, help="directory for the figures and tables")
    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            from .report import build
            res, arts, notes = build(args.results, args.out)
        else:
            from . import figures
            res = Results(args.results)
            os.makedirs(args.out, exist_ok=True)
            drawer = figures.snapshots if args.command == "snapshots" else {
                "convergence": figures.convergence, "regression": figures.regression,
                "training": figures.training, "completion": figures.completion,
                "inpainting": figures.inpainting, "rotation": figures.rotation,
                "dynamics": figures.dynamics}[args.command]
            arts, notes = drawer(res, args.out), []
            if not arts:
                notes.append(f"nothing to draw for '{args.command}' in {', '.join(args.results)}")
    except AnalysisError as e:
        print(f"analysis: {e}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"note: {n}")
    for a in arts:
        print(f"wrote {a['kind']}: {a['title']} -> {', '.join(os.path.basename(f) for f in a['files'])}")
    if args.command == "report":
        print(f"open {os.path.join(args.out, 'index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

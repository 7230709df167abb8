"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [data=folder data.root=DIR]``."""

from colorization import prefer_passive_omp_waits

if __name__ == "__main__":
    prefer_passive_omp_waits()  # before anything imports torch

    from colorization.eval import main

    main()

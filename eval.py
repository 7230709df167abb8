"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [data=folder data.root=DIR]``."""

from colorization.eval import main

if __name__ == "__main__":
    main()

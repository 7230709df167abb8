"""Train a colorization network: ``python train.py [-m] [group=option ...] [key=value ...]``.

``python train.py --help`` lists the config groups; conf/train.yaml holds every option; the work happens in
colorization/train.py.
"""

from colorization import prefer_passive_omp_waits

if __name__ == "__main__":
    prefer_passive_omp_waits()  # before anything imports torch

    from colorization.train import main

    main()

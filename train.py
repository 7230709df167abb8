"""Train a colorization network: ``python train.py [-m] [group=option ...] [key=value ...]``.

See conf/train.yaml for every option; the work happens in colorization/train.py.
"""

from colorization.train import main

if __name__ == "__main__":
    main()

"""How much of Fashion-MNIST the rate code keeps: a non-spiking MLP on each image's spike counts.

For each encoding (downsampling factor, events per pixel and step, steps) the training and test images are rate
coded exactly as the ``fashion`` task does (:func:`toolchain.data.images.image_rate_code`), each pixel's events are
counted over the trial, and scikit-learn's ``MLPClassifier`` (one hidden layer of 300, Adam, early stopping on 10 %
of the training images, at most 30 epochs, seed 0) is trained on the counts scaled to [0, 1]. Its test accuracy is
what an ANN of the SNN's size reaches from the same information, timing aside: the level an SNN trained on this
encoding can hope to approach.

    python -m benchmarks.fashion_ceiling
"""

from __future__ import annotations

import time

import numpy as np

from toolchain.data import images

ENCODINGS = [(2, 0.5, 16), (2, 1.0, 16), (1, 0.5, 16)]  # (factor, max_rate, n_steps); the task's default first


def counts(x: np.ndarray, factor: int, max_rate: float, n_steps: int) -> np.ndarray:
    small = images.downsample(x, factor) / 255.0
    return np.stack([images.image_rate_code(img, n_steps, max_rate).sum(axis=0) for img in small])


def main() -> None:
    from sklearn.neural_network import MLPClassifier

    x_train, y_train = images.load_fashion("train")
    x_test, y_test = images.load_fashion("test")
    print("| side | events per pixel and step | steps | MLP 300 test accuracy | seconds |\n|---|---|---|---|---|")
    for factor, max_rate, n_steps in ENCODINGS:
        start = time.perf_counter()
        a, b = counts(x_train, factor, max_rate, n_steps), counts(x_test, factor, max_rate, n_steps)
        scale = a.max()
        model = MLPClassifier((300,), max_iter=30, random_state=0, early_stopping=True).fit(a / scale, y_train)
        print(f"| {28 // factor} | {max_rate:g} | {n_steps} | {model.score(b / scale, y_test):.2%} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""MLflow Project entry point: the same command as `riskmodel train`."""

from riskmodel.cli import main

if __name__ == "__main__":
    main(["train", *__import__("sys").argv[1:]])

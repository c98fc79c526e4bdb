"""MLflow Project entry point: ``riskmodel train`` with the project's parameters.

The CLI command reports the contract's findings and calls
:func:`riskmodel.modelling.workflow.train_and_register`, the one training workflow.
"""

import sys

from riskmodel.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])

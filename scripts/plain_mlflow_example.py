"""Score releases with a riskmodel model using plain MLflow: no riskmodel installed.

What a data scientist does with a champion copied out of the registry (README, "The models
with plain MLflow"). It needs only the packages of the model's own ``requirements.txt``:

    MLFLOW_TRACKING_URI=sqlite:///$HOME/.riskmodel/mlflow.db \\
        mlflow artifacts download -u models:/riskmodel-reoffence@champion -d champion
    python -m venv plain && plain/bin/pip install -r champion/requirements.txt
    plain/bin/python scripts/plain_mlflow_example.py champion releases.csv

The model carries riskmodel's code (``champion/code``) and its signature is the data
contract's: the rows are read with plain pandas, blanks and all.
"""

from __future__ import annotations

import argparse
import importlib.util

import mlflow
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder or URI (models:/riskmodel-reoffence@champion)")
    parser.add_argument("rows", help="a releases CSV or Parquet file (data contract v1)")
    parser.add_argument("--head", type=int, default=10, help="rows to show (default 10)")
    args = parser.parse_args()

    print("riskmodel installed here:", importlib.util.find_spec("riskmodel") is not None)
    model = mlflow.pyfunc.load_model(args.model)
    print("signature inputs:", model.metadata.get_input_schema())
    rows = pd.read_parquet(args.rows) if args.rows.endswith((".parquet", ".pq")) else pd.read_csv(args.rows)
    scored = rows[["release_id"]].assign(prediction=model.predict(rows))
    print(scored.head(args.head).to_string(index=False))


if __name__ == "__main__":
    main()

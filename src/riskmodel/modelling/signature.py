"""The MLflow signature and input example of a riskmodel model, written from the data contract.

A model's signature says what ``mlflow.pyfunc.load_model(...).predict(rows)`` and
``mlflow models serve`` accept. It is written from :data:`riskmodel.data.contract.RELEASE_SPECS`
(not inferred from a few rows), so that rows as a data scientist reads them predict:

* a column the contract requires is required; every other column is optional
  (``required=False``): a row may leave it out;
* text and categories are ``string``, ``release_date`` is ``datetime`` (an ISO date as
  text is read as one);
* a required integer (``previous_sanctions``) is ``long``;
* numbers, the optional integers and the needs flags are ``any``, because MLflow's
  checks would refuse or change rows the contract accepts. MLflow refuses a whole number
  written as ``24`` (``int64``) in a ``double`` column, and a blank cell (``NaN``, a
  ``float64``) in a ``long`` one: a CSV's ``age_at_release`` reads as floats (``27.8``),
  a JSON request's as integers (``24``), and an optional count is ``float64`` as soon as
  one cell is blank. ``mlflow models serve`` reads a JSON ``null`` in a ``boolean``
  column as ``false``, which would turn an unknown need into "no need". The model's
  features read these columns as numbers (``true``/``false`` as 1/0; anything that is
  not a number counts as unknown). ``mlflow models serve`` therefore takes JSON bodies
  (``dataframe_split``, ``dataframe_records``), not ``text/csv``: its CSV reader needs a
  concrete type for every column.

``ethnicity`` is left out: it is never a feature (the model ignores it, and MLflow drops
a column the signature does not name). Declared extra features
(:class:`riskmodel.modelling.config.TrainConfig`) are optional, ``any`` for numbers and
``string`` for categories.

The input example is one made-up row, never a person's: MLflow stores it with the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from riskmodel.data.contract import RELEASE_SPECS, ColumnSpec

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

__all__ = ["contract_signature", "releases_schema", "input_example", "NOT_IN_SIGNATURE"]

#: Contract columns the signature leaves out (never a feature).
NOT_IN_SIGNATURE: tuple[str, ...] = ("ethnicity",)

#: The made-up row logged as every model's input example (the README's example release).
_EXAMPLE: dict[str, object] = {
    "release_id": "R1",
    "person_id": "P1",
    "release_date": "2025-10-03",
    "sex": "M",
    "age_at_release": 24.0,
    "previous_sanctions": 17,
    "index_offence": "theft_non_motor",
    "age_at_first_sanction": 14.0,
    "needs_accommodation": True,
}


def _column(spec: ColumnSpec) -> ColSpec:
    from mlflow.types.schema import AnyType, ColSpec, DataType

    if spec.kind in ("text", "category"):
        kind = DataType.string
    elif spec.kind == "date":
        kind = DataType.datetime
    elif spec.kind == "integer" and spec.required:
        kind = DataType.long
    else:  # a number, an integer that may be blank, a needs flag (see the module docstring)
        kind = AnyType()
    return ColSpec(kind, spec.name, required=spec.required)


def contract_signature(
    *, extra_numeric: tuple[str, ...] = (), extra_categorical: tuple[str, ...] = ()
) -> ModelSignature:
    """The signature of a riskmodel model: the contract's ``releases`` columns in, one number out.

    Parameters
    ----------
    extra_numeric, extra_categorical : tuple of str
        The configuration's declared extra features (optional columns).

    Returns
    -------
    mlflow.models.ModelSignature
        Inputs by name (see the module docstring for the types); the output is one
        unnamed ``double`` per row (a probability, or an expected count).

    Examples
    --------
    >>> signature = contract_signature()
    >>> signature.inputs.required_input_names()[:4]
    ['release_id', 'person_id', 'release_date', 'sex']
    >>> "ethnicity" in signature.inputs.input_names()
    False
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

    columns = [_column(spec) for spec in RELEASE_SPECS if spec.name not in NOT_IN_SIGNATURE]
    columns += [ColSpec(AnyType(), name, required=False) for name in extra_numeric]
    columns += [ColSpec(DataType.string, name, required=False) for name in extra_categorical]
    return ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec(DataType.double)]))


def releases_schema() -> Schema:
    """Every contract column of ``releases`` (``ethnicity`` too), typed as the signature types them.

    The schema of the training data recorded with a run (the rows are never logged).
    """
    from mlflow.types.schema import Schema

    return Schema([_column(spec) for spec in RELEASE_SPECS])


def input_example() -> pd.DataFrame:
    """One made-up release, as the README's example writes it: required columns and two optional ones.

    Examples
    --------
    >>> input_example()[["sex", "previous_sanctions"]].to_dict(orient="records")
    [{'sex': 'M', 'previous_sanctions': 17}]
    """
    return pd.DataFrame([_EXAMPLE])

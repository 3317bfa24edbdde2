"""Minimal stand-ins for Airflow and Dagster, so that tests/test_examples.py imports and runs the
examples on a machine that has neither (they are no dependency of kelviq-import: Airflow alone
pulls in some 200 packages). Only what the examples use, with the real call shapes:

- ``airflow.decorators.task(**kw)`` wraps a function; the real object keeps it as ``.function``
  (how a test runs a task outside a DAG run), and calling it inside ``@dag`` only records the
  call, as the real one builds a graph instead of running; ``.partial(...).expand(...)``
  (dynamic task mapping) records the mapping likewise;
- ``airflow.models.Variable.get(key, default_var=...)`` reads ``AIRFLOW_VAR_<KEY>`` from the
  environment, which real Airflow also honours: a test sets the same variables for both;
- ``airflow.exceptions.AirflowException``;
- ``dagster.op``, ``Failure(description=...)``, ``MetadataValue.path``, ``OpExecutionContext``
  and ``build_op_context(resources=...)``, whose ``add_output_metadata`` keeps what it is given.

When the real package is installed, the test uses it and these are not loaded.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from typing import Any

_MISSING = object()


class _Task:
    def __init__(self, function: Callable[..., Any], options: dict[str, Any]) -> None:
        self.function, self.options = function, options
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)  # inside a DAG: a node of the graph, not a run

    def partial(self, **fixed: Any) -> _Mapped:
        """Dynamic task mapping: ``task.partial(a=1).expand(b=[...])`` records one mapped node."""
        return _Mapped(self, fixed)


class _Mapped:
    def __init__(self, task: _Task, fixed: dict[str, Any]) -> None:
        self.task, self.fixed = task, fixed

    def expand(self, **mapped: list[Any]) -> None:
        self.task.calls.append(({**self.fixed}, mapped))


def _task(**options: Any) -> Callable[[Callable[..., Any]], _Task]:
    return lambda function: _Task(function, options)


def _dag(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda function: function


class AirflowException(Exception):
    pass


class Variable:
    @staticmethod
    def get(key: str, default_var: Any = _MISSING) -> Any:
        value = os.environ.get(f"AIRFLOW_VAR_{key.upper()}", default_var)
        if value is _MISSING:
            raise KeyError(f"Variable {key} does not exist")
        return value


class Failure(Exception):
    def __init__(self, description: str | None = None) -> None:
        super().__init__(description)
        self.description = description


class MetadataValue:
    @staticmethod
    def path(value: str) -> tuple[str, str]:
        return ("path", value)


class OpExecutionContext:
    def __init__(self, resources: dict[str, Any]) -> None:
        self.resources = types.SimpleNamespace(**resources)
        self.output_metadata: dict[str, Any] = {}

    def add_output_metadata(self, metadata: dict[str, Any]) -> None:
        self.output_metadata.update(metadata)


def _op(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda function: function


def _module(name: str, **names: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(names)
    return module


def install_airflow() -> None:
    sys.modules["airflow"] = _module("airflow")
    sys.modules["airflow.decorators"] = _module("airflow.decorators", task=_task, dag=_dag)
    sys.modules["airflow.exceptions"] = _module("airflow.exceptions", AirflowException=AirflowException)
    sys.modules["airflow.models"] = _module("airflow.models", Variable=Variable)


def install_dagster() -> None:
    sys.modules["dagster"] = _module(
        "dagster",
        op=_op,
        Failure=Failure,
        MetadataValue=MetadataValue,
        OpExecutionContext=OpExecutionContext,
        build_op_context=OpExecutionContext,  # build_op_context(resources=...)
    )

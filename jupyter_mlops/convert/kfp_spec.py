"""The KFP v2 pipeline spec (the IR YAML) of a generated pipeline, written without the kfp SDK.

``import kfp`` alone costs about a second, and compiling imports the generated module and
builds every component through the SDK: that put a 200-step notebook at ~1.9 s of process
wall. The pipelines we generate use a small, fixed part of the IR (Python components that
pass artifacts, typed parameters, a Metrics artifact, resources, retries, caching), so this
module writes that part directly from the Plan, as plain dicts written out by ``yaml_text``.

It must stay equal to what ``kfp.compiler`` writes for the generated ``<name>_pipeline.py``:
tests/test_kfp_spec.py compiles the same notebooks both ways and compares the parsed YAML.
Where the SDK has a rule we depend on (name sanitizing, the component's embedded source, the
pip command, resource units), the rule is restated here with a note of what it mirrors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConvertError
from ..notebook.plan import Function, Plan
from . import yaml_text
from .codegen import comment as _comment

SCHEMA_VERSION = "2.1.0"
ARTIFACT = {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}
METRICS = {"schemaTitle": "system.Metrics", "schemaVersion": "0.0.1"}
PARAMETER_TYPES = {
    "int": "NUMBER_INTEGER",
    "float": "NUMBER_DOUBLE",
    "str": "STRING",
    "bool": "BOOLEAN",
    "list": "LIST",
    "dict": "STRUCT",
}
GPU_TYPE = "nvidia.com/gpu"
# What a lightweight Python component runs: install, write its source to a file, run it.
PIP = "python3 -m pip install --quiet --no-warn-script-location "
INSTALL_SCRIPT = """
if ! [ -x "$(command -v pip)" ]; then
    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip
fi

PIP_DISABLE_PIP_VERSION_CHECK=1 {commands} && "$0" "$@"
"""
_GAP = " " * 25  # the SDK's line continuations, joined
RUN_SCRIPT = (
    'program_path=$(mktemp -d)\n\nprintf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    f"_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main{_GAP}--component_module_path"
    f'{_GAP}"$program_path/ephemeral_component.py"{_GAP}"$@"\n'
)
KFP_TYPING_EXTENSIONS = 'typing-extensions>=3.7.4,<5; python_version<"3.9"'
SOURCE_PREAMBLE = (
    "\nimport kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\nfrom typing import *\n\n"
)
# Kubernetes quantities as the SDK accepts and converts them (to GB, as a float).
_CPU = re.compile(r"([0-9]*[.])?[0-9]+m?$")
_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki){0,1}$")
_MEMORY_UNITS = {
    "E": 10**18,
    "Ei": 1 << 60,
    "P": 10**15,
    "Pi": 1 << 50,
    "T": 10**12,
    "Ti": 1 << 40,
    "Gi": 1 << 30,
    "M": 10**6,
    "Mi": 1 << 20,
    "K": 10**3,
    "Ki": 1 << 10,
}
_CHANNEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9\s_-]*$")
_CHANNEL_RULE = "KFP names hold only ASCII letters, digits and '_', starting with a letter"
_TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}


@dataclass(frozen=True)
class KfpParameter:
    """A pipeline parameter as KFP carries it: kind is a key of PARAMETER_TYPES."""

    name: str
    kind: str
    default: Any
    optional: bool


@dataclass(frozen=True)
class Component:
    """One function's component: its image, its pip packages and its ``def`` as written."""

    function: Function
    image: str
    packages: list[str]
    source: str  # from "def" to the function's last line, as in <name>_pipeline.py
    doc: str  # its docstring's text


def pipeline_spec(
    plan: Plan,
    *,
    name: str,
    description: str,
    parameters: list[KfpParameter],
    components: list[Component],
    kfp_version: str,
    output_prefix: str,
    metrics_output: str,
) -> dict[str, Any]:
    """The PipelineSpec as the dict that ``json_format.MessageToDict`` gives the SDK."""
    _check_channel_names(plan, parameters, components, output_prefix)
    task_names = _task_names([c.function for c in components])
    caching_default = _caching_default()
    tasks: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    for component in components:
        function = component.function
        task = task_names[function.name]
        used = [p for p in parameters if p.name in function.parameters]
        described, returned = _descriptions(component.doc)
        inputs: dict[str, Any] = {}
        if function.data_inputs:
            inputs["artifacts"] = {
                n: _artifact(ARTIFACT, described.get(n)) for n in function.data_inputs
            }
        if used:
            inputs["parameters"] = {
                p.name: _parameter(p, described.get(p.name), plan) for p in used
            }
        outputs = {
            output_prefix + n: _artifact(ARTIFACT, returned.get(output_prefix + n))
            for n in function.outputs
        }
        if function.metrics:
            outputs[metrics_output] = _artifact(METRICS, returned.get(metrics_output))
        spec: dict[str, Any] = {"executorLabel": f"exec-{task}"}
        if inputs:
            spec["inputDefinitions"] = inputs
        if outputs:
            spec["outputDefinitions"] = {"artifacts": outputs}
        specs[f"comp-{task}"] = spec
        executors[f"exec-{task}"] = {"container": _container(plan, component, kfp_version)}
        tasks[task] = _task(function, task, task_names, caching_default, output_prefix)
    root: dict[str, Any] = {"dag": {"tasks": tasks}}
    if parameters:
        root["inputDefinitions"] = {
            "parameters": {p.name: _parameter(p, None, plan) for p in parameters}
        }
    return {
        "components": specs,
        "deploymentSpec": {"executors": executors},
        "pipelineInfo": {"description": description, "name": name},
        "root": root,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": f"kfp-{kfp_version}",
    }


def dump_spec(spec: dict[str, Any]) -> str:
    """The YAML text, after the SDK's header comment (keys sorted, as the SDK writes them)."""
    lines = ["# PIPELINE DEFINITION", f"# Name: {_comment(spec['pipelineInfo']['name'])}"]
    lines.append(f"# Description: {_comment(spec['pipelineInfo']['description'])}")
    inputs = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    if inputs:
        lines.append("# Inputs:")
        for name, parameter in sorted(inputs.items()):
            kind = _KIND_NAMES[parameter["parameterType"]]
            default = (
                f" [Default: {_comment(repr(parameter['defaultValue']))}]"
                if "defaultValue" in parameter
                else ""
            )
            lines.append(f"#    {name}: {kind}{default}")
    header = "\n".join(lines) + "\n"
    return header + yaml_text.dump(spec)


_KIND_NAMES = {value: key for key, value in PARAMETER_TYPES.items()}


def component_name(identifier: str) -> str:
    """The SDK's name for a function's component and task: words capitalized, then k8s-safe."""
    words = re.sub(" +", " ", identifier.replace("_", " ")).strip(" ")
    return k8s_name(words[:1].upper() + words[1:])


def k8s_name(name: str) -> str:
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")


def _unique(name: str, taken: set[str]) -> str:
    """The SDK's rule for a repeated name: name-2, name-3, …"""
    if name not in taken:
        return name
    index = 2
    while f"{name}-{index}" in taken:
        index += 1
    return f"{name}-{index}"


def _task_names(functions: list[Function]) -> dict[str, str]:
    """Function name -> task name, made unique in pipeline order as the SDK does."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for function in functions:
        task = _unique(component_name(function.identifier), taken)
        if not task:
            task = _unique("task", taken)
        taken.add(task)
        names[function.name] = task
    return names


def _check_channel_names(
    plan: Plan, parameters: list[KfpParameter], components: list[Component], output_prefix: str
) -> None:
    """Pipeline parameters and task outputs become KFP channels, whose names the SDK limits."""
    for parameter in parameters:
        if not _CHANNEL_NAME.match(parameter.name):
            raise ConvertError(
                f"parameter {parameter.name!r}: {_CHANNEL_RULE}; rename it",
                notebook=plan.notebook,
            )
    for component in components:
        for output in component.function.outputs:
            if not _CHANNEL_NAME.match(output_prefix + output):
                raise ConvertError(
                    f"function {component.function.name!r}: output {output!r}: "
                    f"{_CHANNEL_RULE}; rename the variable",
                    notebook=plan.notebook,
                    cell=component.function.cell_indices[0],
                )


def _caching_default() -> bool:
    """The SDK turns caching off by default when this variable says so; so do we."""
    value = str(os.environ.get("KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT")).strip().lower()
    return value not in _TRUE_WORDS


def _task(
    function: Function,
    task: str,
    task_names: dict[str, str],
    caching_default: bool,
    output_prefix: str,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if function.data_inputs:
        inputs["artifacts"] = {
            name: {
                "taskOutputArtifact": {
                    "outputArtifactKey": output_prefix + name,
                    "producerTask": task_names[function.sources[name]],
                }
            }
            for name in function.data_inputs
        }
    if function.parameters:
        inputs["parameters"] = {
            name: {"componentInputParameter": name} for name in function.parameters
        }
    enable_cache = bool(function.options.get("cache", caching_default))
    spec: dict[str, Any] = {
        "cachingOptions": {"enableCache": True} if enable_cache else {},
        "componentRef": {"name": f"comp-{task}"},
        "taskInfo": {"name": function.name},
    }
    upstream = {task_names[function.sources[n]] for n in function.data_inputs}
    upstream |= {task_names[after] for after in function.after}
    if upstream:
        spec["dependentTasks"] = sorted(upstream)
    if inputs:
        spec["inputs"] = inputs
    retries = int(function.options.get("retries") or 0)
    if retries:
        spec["retryPolicy"] = {
            "backoffDuration": "0s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "3600s",
            "maxRetryCount": retries,
        }
    return spec


def _container(plan: Plan, component: Component, kfp_version: str) -> dict[str, Any]:
    function = component.function
    commands = []
    if component.packages:
        commands += [PIP + " ".join(repr(p) for p in component.packages), " && "]
    kfp_packages = [f"kfp=={kfp_version}", "--no-deps", KFP_TYPING_EXTENSIONS]
    commands.append(PIP + " ".join(repr(p) for p in kfp_packages))
    container: dict[str, Any] = {
        "args": ["--executor_input", "{{$}}", "--function_to_execute", function.identifier],
        "command": [
            "sh",
            "-c",
            INSTALL_SCRIPT.format(commands=" ".join(commands)),
            "sh",
            "-ec",
            RUN_SCRIPT,
            SOURCE_PREAMBLE + _as_inspected(component.source) + "\n\n",
        ],
        "image": component.image,
    }
    resources = _resources(plan, function)
    if resources:
        container["resources"] = resources
    return container


def _as_inspected(source: str) -> str:
    """The function's text as the SDK reads it back (inspect.getsource + textwrap.dedent):
    trailing blank lines dropped, whitespace-only lines emptied."""
    lines = source.split("\n")
    while lines and not lines[-1].strip(" \t"):
        lines.pop()
    return "\n".join("" if not line.strip(" \t") else line for line in lines)


def _resources(plan: Plan, function: Function) -> dict[str, Any]:
    options = function.options
    resources: dict[str, Any] = {}
    if "cpu" in options:
        cpu = str(options["cpu"])
        if not _CPU.match(cpu):
            raise _option_error(
                plan, function, "cpu", cpu, "a number of cores, or millicores: 500m"
            )
        resources["cpuLimit"] = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
        resources["resourceCpuLimit"] = cpu
    if "memory" in options:
        memory = str(options["memory"])
        if not _MEMORY.match(memory):
            raise _option_error(
                plan, function, "memory", memory, "a whole number with an optional unit: 4Gi, 512M"
            )
        resources["memoryLimit"] = _gigabytes(memory)
        resources["resourceMemoryLimit"] = memory
    if options.get("gpu"):
        count = str(int(options["gpu"]))
        resources["accelerator"] = {
            "count": count,
            "resourceCount": count,
            "resourceType": GPU_TYPE,
            "type": GPU_TYPE,
        }
    return resources


def _gigabytes(memory: str) -> float:
    """The SDK's float for a memory quantity: gigabytes, computed in the same order."""
    for unit in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki", "E", "P", "T", "M", "K"):
        if memory.endswith(unit):
            return float(memory[: -len(unit)]) * _MEMORY_UNITS[unit] / 10**9
    if memory.endswith("G"):
        return float(memory[:-1])
    return float(memory) / 10**9


def _option_error(plan: Plan, function: Function, key: str, value: str, want: str) -> ConvertError:
    return ConvertError(
        f"function {function.name!r}: mlops:{key}:{value} is not a quantity KFP accepts; "
        f"use {want}",
        notebook=plan.notebook,
        cell=function.cell_indices[0],
    )


def _artifact(kind: dict[str, str], description: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"artifactType": dict(kind)}  # a copy: no YAML aliases
    if description:
        spec["description"] = description
    return spec


def _parameter(parameter: KfpParameter, description: str | None, plan: Plan) -> dict[str, Any]:
    spec: dict[str, Any] = {"isOptional": True, "parameterType": PARAMETER_TYPES[parameter.kind]}
    if parameter.default is not None:
        spec["defaultValue"] = _value(parameter.default, parameter.name, plan)
    if description:
        spec["description"] = description
    return spec


def _value(value: Any, name: str, plan: Plan) -> Any:
    """A default as protobuf's Value holds it: every number a double, no None inside."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_value(item, name, plan) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _value(item, name, plan) for key, item in value.items()}
    raise ConvertError(
        f"parameter {name!r}: KFP cannot carry the default value {value!r} (a pipeline "
        "default holds only str, int, float, bool, and lists and dicts of them)",
        notebook=plan.notebook,
    )


def _descriptions(doc: str) -> tuple[dict[str, str], dict[str, str]]:
    """(inputs, outputs) described in the docstring, as the SDK finds them: an ``Args:``
    entry describes an input, a ``Returns:`` entry an output, read with docstring_parser (a
    kfp dependency). Most function docs have neither, so look before importing it."""
    if ":" not in doc and "-" not in doc:
        return {}, {}
    try:
        import docstring_parser
    except ImportError:  # only with kfp absent, and then nothing compares with the SDK
        return {}, {}
    import inspect

    parse: Callable[[str], Any] = docstring_parser.parse
    text = inspect.cleandoc(doc)
    inputs = {p.arg_name: p.description for p in parse(text).params if p.description}
    outputs: dict[str, str] = {}
    for keyword in ("Returns:\n", "Returns\n", "Return:\n", "Return\n"):
        if keyword in text:
            returned = parse(text.replace(keyword.strip(), "Args:")).params
            outputs = {p.arg_name: p.description for p in returned if p.description}
            break
    return inputs, outputs

from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Scale(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALE_UNSPECIFIED: _ClassVar[Scale]
    SCALE_LINEAR: _ClassVar[Scale]
    SCALE_LOG: _ClassVar[Scale]
SCALE_UNSPECIFIED: Scale
SCALE_LINEAR: Scale
SCALE_LOG: Scale

class Value(_message.Message):
    __slots__ = ("double_value", "int_value", "string_value", "bool_value")
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    double_value: float
    int_value: int
    string_value: str
    bool_value: bool
    def __init__(self, double_value: _Optional[float] = ..., int_value: _Optional[int] = ..., string_value: _Optional[str] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class DoubleDomain(_message.Message):
    __slots__ = ("min", "max", "scale", "step")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    scale: Scale
    step: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., scale: _Optional[_Union[Scale, str]] = ..., step: _Optional[float] = ...) -> None: ...

class IntDomain(_message.Message):
    __slots__ = ("min", "max", "scale", "step")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    scale: Scale
    step: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ..., scale: _Optional[_Union[Scale, str]] = ..., step: _Optional[int] = ...) -> None: ...

class CategoricalDomain(_message.Message):
    __slots__ = ("choices", "ordered")
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    ORDERED_FIELD_NUMBER: _ClassVar[int]
    choices: _containers.RepeatedCompositeFieldContainer[Value]
    ordered: bool
    def __init__(self, choices: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., ordered: _Optional[bool] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("parent", "values")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, parent: _Optional[str] = ..., values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "double", "int", "categorical", "conditions", "default_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_FIELD_NUMBER: _ClassVar[int]
    INT_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    double: DoubleDomain
    int: IntDomain
    categorical: CategoricalDomain
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    default_value: Value
    def __init__(self, name: _Optional[str] = ..., double: _Optional[_Union[DoubleDomain, _Mapping]] = ..., int: _Optional[_Union[IntDomain, _Mapping]] = ..., categorical: _Optional[_Union[CategoricalDomain, _Mapping]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., default_value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class ChainSpace(_message.Message):
    __slots__ = ("min_layers", "max_layers", "operations", "filters", "kernel_sizes", "strides")
    MIN_LAYERS_FIELD_NUMBER: _ClassVar[int]
    MAX_LAYERS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_SIZES_FIELD_NUMBER: _ClassVar[int]
    STRIDES_FIELD_NUMBER: _ClassVar[int]
    min_layers: int
    max_layers: int
    operations: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.RepeatedScalarFieldContainer[int]
    kernel_sizes: _containers.RepeatedScalarFieldContainer[int]
    strides: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, min_layers: _Optional[int] = ..., max_layers: _Optional[int] = ..., operations: _Optional[_Iterable[str]] = ..., filters: _Optional[_Iterable[int]] = ..., kernel_sizes: _Optional[_Iterable[int]] = ..., strides: _Optional[_Iterable[int]] = ...) -> None: ...

class MultiBranchSpace(_message.Message):
    __slots__ = ("num_layers", "operations", "merge", "max_inputs", "filters")
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    num_layers: int
    operations: _containers.RepeatedScalarFieldContainer[str]
    merge: str
    max_inputs: int
    filters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, num_layers: _Optional[int] = ..., operations: _Optional[_Iterable[str]] = ..., merge: _Optional[str] = ..., max_inputs: _Optional[int] = ..., filters: _Optional[_Iterable[int]] = ...) -> None: ...

class CellSpace(_message.Message):
    __slots__ = ("num_nodes", "operations", "num_cells", "init_channels")
    NUM_NODES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_CELLS_FIELD_NUMBER: _ClassVar[int]
    INIT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    num_nodes: int
    operations: _containers.RepeatedScalarFieldContainer[str]
    num_cells: int
    init_channels: int
    def __init__(self, num_nodes: _Optional[int] = ..., operations: _Optional[_Iterable[str]] = ..., num_cells: _Optional[int] = ..., init_channels: _Optional[int] = ...) -> None: ...

class EdgeCellSpace(_message.Message):
    __slots__ = ("num_nodes", "operations", "num_cells", "init_channels")
    NUM_NODES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_CELLS_FIELD_NUMBER: _ClassVar[int]
    INIT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    num_nodes: int
    operations: _containers.RepeatedScalarFieldContainer[str]
    num_cells: int
    init_channels: int
    def __init__(self, num_nodes: _Optional[int] = ..., operations: _Optional[_Iterable[str]] = ..., num_cells: _Optional[int] = ..., init_channels: _Optional[int] = ...) -> None: ...

class ArchitectureSpace(_message.Message):
    __slots__ = ("chain", "multi_branch", "cell", "edge_cell")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    MULTI_BRANCH_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    EDGE_CELL_FIELD_NUMBER: _ClassVar[int]
    chain: ChainSpace
    multi_branch: MultiBranchSpace
    cell: CellSpace
    edge_cell: EdgeCellSpace
    def __init__(self, chain: _Optional[_Union[ChainSpace, _Mapping]] = ..., multi_branch: _Optional[_Union[MultiBranchSpace, _Mapping]] = ..., cell: _Optional[_Union[CellSpace, _Mapping]] = ..., edge_cell: _Optional[_Union[EdgeCellSpace, _Mapping]] = ...) -> None: ...

class SearchSpace(_message.Message):
    __slots__ = ("parameters", "architecture")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    architecture: ArchitectureSpace
    def __init__(self, parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ..., architecture: _Optional[_Union[ArchitectureSpace, _Mapping]] = ...) -> None: ...

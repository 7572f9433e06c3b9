// The one module users import: it re-exports every layer of the toolkit.
@_exported import ConvNetCore
@_exported import ConvNetNN
@_exported import ConvNetData
@_exported import ConvNetTensorBoard
@_exported import ConvNetONNX
@_exported import ConvNetDistributed

public enum ConvNetDataPlaceholder {}

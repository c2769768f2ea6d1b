namespace Ferry.Targets;

/// <summary>The target cannot be opened or does not fit the manifest (a missing column, no unique key).</summary>
public sealed class TargetException(string message, Exception? inner = null) : Exception(message, inner);

namespace Ferry.Sources;

/// <summary>A source that cannot be read at all: missing, unreadable, or structurally broken.</summary>
public sealed class SourceException(string file, long line, string rule, string message, Exception? inner = null)
    : Exception(line > 0 ? $"{file}:{line}: {message} [{rule}]" : $"{file}: {message} [{rule}]", inner)
{
    public string File { get; } = file;
    public long Line { get; } = line;
    public string Rule { get; } = rule;
}

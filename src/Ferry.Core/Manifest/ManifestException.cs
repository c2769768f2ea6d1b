using Ferry.Diagnostics;

namespace Ferry.Manifest;

/// <summary>One problem in a manifest, pinned to its file and line.</summary>
public sealed record ManifestError(string File, int Line, int Column, string Message)
{
    public override string ToString() =>
        Line > 0 ? $"{File}:{Line}:{Column}: {SecretMasker.Scrub(Message)}" : $"{File}: {SecretMasker.Scrub(Message)}";
}

/// <summary>The manifest cannot be used; every error found is listed, not only the first.</summary>
public sealed class ManifestException(IReadOnlyList<ManifestError> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<ManifestError> Errors { get; } = errors;
}

using Ferry.Diagnostics;

namespace Ferry.Manifest;

/// <summary>
/// A manifest value that may hold secrets. <see cref="ToString"/> never reveals it;
/// only <see cref="Reveal"/> does, at the one place that needs the real value.
/// </summary>
public sealed class SecretString(string value, IReadOnlyList<string> secrets)
{
    private readonly string value = value;

    /// <summary>The substituted values that must never be shown.</summary>
    public IReadOnlyList<string> Secrets { get; } = secrets;

    public string Reveal() => value;

    public override string ToString() => SecretMasker.Mask(value, Secrets);
}

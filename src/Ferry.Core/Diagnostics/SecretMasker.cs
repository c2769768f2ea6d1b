using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Ferry.Diagnostics;

/// <summary>
/// Keeps secrets out of everything Ferry prints or stores. Values substituted from
/// <c>${ENV}</c> or <c>${file:…}</c> are registered here when a manifest loads, and every
/// message bound for a log, a console, an exception or the ledger passes through <see cref="Scrub"/>.
/// Password-like pairs in connection strings are masked even when they were typed in literally.
/// </summary>
public static partial class SecretMasker
{
    private const string Hidden = "***";
    private static readonly ConcurrentDictionary<string, byte> Registered = new(StringComparer.Ordinal);

    public static void Register(string secret)
    {
        // One- and two-character values would mask innocent text everywhere; they are no secret anyway.
        if (secret.Length >= 3)
            Registered.TryAdd(secret, 0);
    }

    public static string Scrub(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return text ?? "";
        foreach (var secret in Registered.Keys)
            text = text.Replace(secret, Hidden, StringComparison.Ordinal);
        return PasswordPair().Replace(text, m => m.Groups[1].Value + Hidden);
    }

    internal static string Mask(string text, IReadOnlyList<string> secrets)
    {
        foreach (var secret in secrets)
            if (secret.Length > 0)
                text = text.Replace(secret, Hidden, StringComparison.Ordinal);
        return Scrub(text);
    }

    [GeneratedRegex(@"((?:password|pwd|secret|token|api[_-]?key)\s*=\s*)(?:'[^']*'|""[^""]*""|[^;\s]*)", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPair();
}

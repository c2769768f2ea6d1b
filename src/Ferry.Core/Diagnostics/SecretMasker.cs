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

    /// <summary>The registered secrets, longest first (see <see cref="LongestFirst"/>); replaced on each change.</summary>
    private static volatile string[] ordered = [];

    public static void Register(string secret)
    {
        // One- and two-character values would mask innocent text everywhere; they are no secret anyway.
        if (secret.Length >= 3 && Registered.TryAdd(secret, 0))
            lock (Registered)
                ordered = LongestFirst(Registered.Keys);
    }

    public static string Scrub(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return text ?? "";
        foreach (var secret in ordered)
            text = text.Replace(secret, Hidden, StringComparison.Ordinal);
        return PasswordPair().Replace(text, m => m.Groups[1].Value + Hidden);
    }

    internal static string Mask(string text, IReadOnlyList<string> secrets)
    {
        foreach (var secret in LongestFirst(secrets))
            if (secret.Length > 0)
                text = text.Replace(secret, Hidden, StringComparison.Ordinal);
        return Scrub(text);
    }

    /// <summary>
    /// A secret that contains another (a password starting with the user name) must be replaced
    /// first; replacing the shorter one first would leave the rest of the longer one visible.
    /// </summary>
    private static string[] LongestFirst(IEnumerable<string> secrets) =>
        secrets.OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray();

    [GeneratedRegex(@"((?:password|pwd|secret|token|api[_-]?key)\s*=\s*)(?:'[^']*'|""[^""]*""|[^;\s]*)", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPair();
}

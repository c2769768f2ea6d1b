namespace Ferry.Manifest;

/// <summary>What happens to the current versions whose keys a full run's rows do not hold.</summary>
public enum MissingKeys { Ignore, Close, Delete }

/// <summary>
/// An <c>scd2</c> entity's history settings: a change in a <paramref name="Tracked"/> column opens a
/// new version; a change in any other non-key column updates the current version in place.
/// </summary>
/// <param name="Tracked">Target columns whose change opens a new version (default: every mapped non-key column).</param>
/// <param name="Missing">What happens, at the end of a run that read the whole source, to current keys absent from its rows.</param>
public sealed record HistorySpec(IReadOnlyList<string> Tracked, MissingKeys Missing, int Line)
{
    /// <summary>The columns Ferry adds to a history table it creates; a mapping cannot name them.</summary>
    public static readonly IReadOnlyList<string> ReservedColumns = ["version_id", "valid_from", "valid_to", "is_current", "is_deleted"];
}

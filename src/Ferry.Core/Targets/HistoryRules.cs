using System.Globalization;
using Ferry.Manifest;
using Ferry.Mapping;

namespace Ferry.Targets;

/// <summary>
/// What both targets decide alike for an <c>scd2</c> entity (see docs/manifest.md, "History"): the run's
/// as-of time, the late-row refusal and whether absent keys may be closed.
/// </summary>
internal static class HistoryRules
{
    /// <summary>A date-time as UTC: an unspecified one is taken as UTC already.</summary>
    public static DateTime Utc(DateTime value) => value.Kind switch
    {
        DateTimeKind.Utc => value,
        DateTimeKind.Local => value.ToUniversalTime(),
        _ => DateTime.SpecifyKind(value, DateTimeKind.Utc),
    };

    /// <summary>The text SQLite stores a date-time in (<see cref="RowMapper.Format"/>): it sorts as the times do.</summary>
    public static string SqliteText(DateTime value) => RowMapper.Format(Utc(value));

    /// <summary>A stored time in a message: to the second, with its fraction only when it has one.</summary>
    public static string Show(DateTime value) => Utc(value).ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture).TrimEnd('.') + "Z";

    /// <summary>The rejection of a row older than its key's history: no version may overlap another.</summary>
    public static string LateMessage(string? key, string asOf, string latest, bool current) =>
        $"key '{key}': this run's as-of time {asOf} is earlier than {(current ? "the valid_from of its current version" : "the end of its latest version")} " +
        $"({latest}), and its values differ from it; a history only grows forward: load older files first, or roll back the later runs";

    /// <summary>The rejection of a row of a run older than a run already loaded: it may confirm the history, not change it.</summary>
    public static string LateRunMessage(string? key, string asOf, long laterRun, string laterAsOf) =>
        $"key '{key}': this run's as-of time {asOf} is earlier than that of run {laterRun} ({laterAsOf}), which loaded the table already, " +
        "and the row differs from its key's current version (or the key has none); a history only grows forward: load older files first, or roll back the later runs";

    /// <summary>
    /// The reason absent keys are not closed by this run, or null when they are: only a run that read the
    /// whole source, and knows every row's key, may take an absent key for a key that is gone.
    /// </summary>
    public static string? MissingSkipped(HistorySpec history, RunStart? start, bool unknownKeys, long? laterRun)
    {
        if (history.Missing == MissingKeys.Ignore)
            return "missing: ignore";
        if (laterRun is { } later)
            return $"the run's as-of time is earlier than that of run {later}, which loaded the table already";
        if (start is { WholeSource: false })
            return "the run read a --source file, not the whole source";
        if (unknownKeys)
            return "rows were rejected before their key was known, so an absent key may be one of theirs";
        return null;
    }
}

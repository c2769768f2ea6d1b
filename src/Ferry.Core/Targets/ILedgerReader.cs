using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>Reads runs, their counts and their rejected rows from a target's ledger.</summary>
public interface ILedgerReader : IAsyncDisposable
{
    /// <summary>The newest runs first.</summary>
    Task<IReadOnlyList<RunRecord>> ListRunsAsync(int limit, CancellationToken cancellationToken);

    /// <summary>One run, or the newest when <paramref name="runId"/> is null; null when there is none.</summary>
    Task<RunRecord?> GetRunAsync(long? runId, CancellationToken cancellationToken);

    /// <summary>The rows of a run still in <c>error</c> (corrected ones have moved to imported), in source order.</summary>
    Task<IReadOnlyList<RejectRecord>> ListRejectsAsync(long runId, IEnumerable<string> entities, CancellationToken cancellationToken);
}

/// <summary>A run as the ledger remembers it.</summary>
public sealed record RunRecord(
    long RunId, string? Name, string Source, string Status, string StartedAt, string? FinishedAt, string? Error,
    IReadOnlyList<RunEntityRecord> Entities);

public sealed record RunEntityRecord(string Entity, string Target, string Mode, EntityCounts Counts);

/// <summary>A rejected source row: where it was, its raw values and every message.</summary>
public sealed record RejectRecord(
    string Entity, long StageId, long RunId, long Line, string? BusinessKey,
    IReadOnlyList<KeyValuePair<string, string?>> Raw, IReadOnlyList<RejectMessage> Errors);

public sealed record RejectMessage(string Severity, string Rule, string? Column, string Message);

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

    /// <summary>The checks every reconciliation of a run recorded, oldest first (none in a ledger from before they were kept).</summary>
    Task<IReadOnlyList<ReconciliationRecord>> ListReconciliationsAsync(long runId, CancellationToken cancellationToken);
}

/// <summary>One check of one entity (and tenant) in a reconciliation: passed or not, with its figures as JSON.</summary>
public sealed record ReconciliationRecord(long RunId, string Entity, string? Tenant, string Check, bool Passed, string? Summary, string CheckedAt);

/// <summary>A run as the ledger remembers it.</summary>
public sealed record RunRecord(
    long RunId, string? Name, string Source, string Status, string StartedAt, string? FinishedAt, string? Error,
    IReadOnlyList<RunEntityRecord> Entities);

/// <param name="Tenant">With tenants, the tenant these counts are of (a run lists each entity once per tenant).</param>
public sealed record RunEntityRecord(string Entity, string Target, string Mode, EntityCounts Counts, string? Tenant = null);

/// <summary>A rejected source row: where it was, its raw values and every message.</summary>
public sealed record RejectRecord(
    string Entity, long StageId, long RunId, long Line, string? BusinessKey,
    IReadOnlyList<KeyValuePair<string, string?>> Raw, IReadOnlyList<RejectMessage> Errors);

public sealed record RejectMessage(string Severity, string Rule, string? Column, string Message);

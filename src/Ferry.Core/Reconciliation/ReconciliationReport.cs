namespace Ferry.Reconciliation;

/// <summary>
/// What a reconciliation found: for each entity (and, once tenants exist, each tenant of it), whether
/// the run's ledger, the source read again and the target agree. <see cref="Ok"/> is false on any mismatch.
/// Nothing here holds a connection string: origins are named as the ledger names them.
/// </summary>
public sealed class ReconciliationReport
{
    public required string Manifest { get; init; }
    public string? Name { get; init; }

    /// <summary>The run whose ledger counts were checked.</summary>
    public required long RunId { get; init; }
    public required string RunStatus { get; init; }
    public required string Target { get; init; }
    public required DateTime StartedAt { get; init; }
    public DateTime FinishedAt { get; set; }

    /// <summary>How many rows of each entity were compared field by field.</summary>
    public required int SampleSize { get; init; }
    public List<EntityReconciliation> Entities { get; } = [];

    public bool Ok => Entities.TrueForAll(e => e.Ok);

    /// <summary>Every mismatch of every entity, in entity order: what a person reads first.</summary>
    public IEnumerable<Mismatch> Mismatches => Entities.SelectMany(e => e.Mismatches);
}

/// <summary>One entity of one tenant.</summary>
public sealed class EntityReconciliation
{
    public required string Entity { get; init; }

    /// <summary>The tenant; null until the manifest has tenants (every row then belongs to the one source).</summary>
    public string? Tenant { get; init; }
    public required string Table { get; init; }
    public required string Mode { get; init; }

    /// <summary>Why the entity was not reconciled (the run did not load it); not a mismatch.</summary>
    public string? Skipped { get; set; }

    /// <summary>What stopped the entity's reconciliation (a table missing, a source that cannot be read): a mismatch.</summary>
    public string? Error { get; set; }

    /// <summary>Notes that explain a result without being a mismatch (a check that could not apply).</summary>
    public List<string> Notes { get; } = [];

    public LedgerSide? Ledger { get; set; }
    public SourceSide? Source { get; set; }
    public ChecksumResult? Checksum { get; set; }
    public List<string> MissingKeys { get; } = [];
    public List<FieldDifference> Differences { get; } = [];
    public List<SampleRow> Samples { get; } = [];
    public List<OrphanResult> Orphans { get; } = [];
    public List<Mismatch> Mismatches { get; } = [];

    public bool Ok => Mismatches.Count == 0;

    internal void Mismatch(string kind, string message, string? key = null, string? column = null, string? source = null, string? target = null) =>
        Mismatches.Add(new Mismatch(Entity, Tenant, kind, message, key, column, source, target));
}

/// <summary>The run's own counts: rows read = inserted + updated + unchanged + rejected.</summary>
public sealed record LedgerSide(long RowsRead, long Inserted, long Updated, long Unchanged, long Rejected)
{
    public long Loaded => Inserted + Updated + Unchanged;
    public bool Balanced => RowsRead == Loaded + Rejected;
}

/// <summary>
/// The source read again with the same contract and mapping. <see cref="Rejected"/> counts rows the
/// contract rejects now and rows the run recorded as rejected (the target may refuse a row the
/// contract accepts); <see cref="Accepted"/> the rest. <see cref="DuplicateKeys"/>: accepted rows whose
/// business key an earlier row had (an upsert keeps the last).
/// </summary>
public sealed record SourceSide(string Origin, long RowsRead, long Accepted, long Rejected, long DuplicateKeys);

/// <summary>
/// An order-independent checksum (the sum, modulo 2^64, of each row's 64-bit content hash) over the
/// source's accepted rows (one per key, the last) and over the target rows with those keys.
/// </summary>
public sealed record ChecksumResult(
    long SourceRows, string SourceChecksum, long TargetRows, string TargetChecksum,
    long MissingInTarget, long Differing, long OnlyInTarget)
{
    public bool Equal => SourceRows == TargetRows && SourceChecksum == TargetChecksum && MissingInTarget == 0 && Differing == 0;
}

/// <summary>A column whose target value differs from the mapped source value.</summary>
public sealed record FieldDifference(string Key, string Column, string? Source, string? Target);

/// <summary>A sampled source row compared field by field with the target row of its key.</summary>
public sealed record SampleRow(string Key, bool FoundInTarget, IReadOnlyList<FieldDifference> Differences)
{
    public bool Ok => FoundInTarget && Differences.Count == 0;
}

/// <summary>Target rows whose <see cref="Column"/> names no row of the parent (orphans); up to 20 examples.</summary>
public sealed record OrphanResult(string Column, string ParentEntity, string ParentTable, string ParentColumn, long Count, IReadOnlyList<OrphanRow> Examples);

public sealed record OrphanRow(string Key, string Value);

/// <summary>
/// One thing that does not add up. <see cref="Kind"/>: <c>ledger-counts</c>, <c>source-counts</c>,
/// <c>missing</c>, <c>differs</c>, <c>sample</c>, <c>orphans</c> or <c>error</c>.
/// </summary>
public sealed record Mismatch(string Entity, string? Tenant, string Kind, string Message, string? Key, string? Column, string? Source, string? Target);

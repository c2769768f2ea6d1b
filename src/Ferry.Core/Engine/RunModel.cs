using System.Text.Json.Serialization;
using Ferry.Contracts;
using Ferry.Sources;

namespace Ferry.Engine;

/// <summary>How a run ended. <c>partial</c>: it finished but rejected rows.</summary>
public enum RunStatus { Running, Succeeded, Partial, Failed }

/// <summary>Row counts for one entity of a run (or one batch of it).</summary>
public sealed class EntityCounts
{
    [JsonPropertyName("rows_read")] public long RowsRead { get; set; }
    [JsonPropertyName("inserted")] public long Inserted { get; set; }
    [JsonPropertyName("updated")] public long Updated { get; set; }
    [JsonPropertyName("unchanged")] public long Unchanged { get; set; }
    [JsonPropertyName("rejected")] public long Rejected { get; set; }
    [JsonPropertyName("warnings")] public long Warnings { get; set; }

    public void Clear() => RowsRead = Inserted = Updated = Unchanged = Rejected = Warnings = 0;

    /// <summary>Counts what the target did with a row of a loaded batch.</summary>
    public void Tally(BatchRow row)
    {
        if (row.HasIssues && row.Issues.Exists(x => !x.RejectsRow))
            Warnings++;
        switch (row.Action)
        {
            case RowAction.Inserted: Inserted++; break;
            case RowAction.Updated: Updated++; break;
            case RowAction.Unchanged: Unchanged++; break;
            default: Rejected++; break;
        }
    }

    public void Add(EntityCounts other)
    {
        RowsRead += other.RowsRead;
        Inserted += other.Inserted;
        Updated += other.Updated;
        Unchanged += other.Unchanged;
        Rejected += other.Rejected;
        Warnings += other.Warnings;
    }
}

/// <summary>What happened to a row that reached the target.</summary>
public enum RowAction { None, Inserted, Updated, Unchanged, Rejected }

/// <summary>
/// A source row on its way through a batch: its raw values, what validation and mapping said,
/// the mapped target values, and (after loading) what the target did with it.
/// </summary>
public sealed class BatchRow
{
    private readonly SourceRow? record;
    private string?[]? raw;

    public BatchRow(long line, string?[] raw)
    {
        Line = line;
        this.raw = raw;
    }

    /// <summary>A row passed on as read: its raw values are made only if something asks for them (<see cref="SourceRow.Values"/>).</summary>
    public BatchRow(SourceRow record)
    {
        Line = record.Line;
        this.record = record;
    }

    public long Line { get; }
    public string?[] Raw => raw ??= record!.Values;
    private List<ValidationIssue>? issues;

    /// <summary>What validation, mapping or the target said of the row; the list is made with its first issue, as most rows have none.</summary>
    public List<ValidationIssue> Issues => issues ??= [];

    /// <summary>Whether the row has an issue, without making the list.</summary>
    public bool HasIssues => issues is { Count: > 0 };

    /// <summary>The row's first fatal issue, which stops the run before its batch is written; null for most rows.</summary>
    public ValidationIssue? Fatal => issues?.Find(i => i.Severity == Ferry.Manifest.Severity.Fatal);
    public object?[]? Values { get; set; }
    public string? Key { get; set; }
    /// <summary>The row's legacy key and UUID, for the key map, when its entity has a <c>legacy_key</c>; null for a rejected row.</summary>
    public KeyMap.KeyMapEntry? Legacy { get; set; }
    /// <summary>The content hash of <see cref="Values"/> (see <see cref="RowHasher"/>); null for a rejected row.</summary>
    public long? Hash { get; set; }
    /// <summary>Set when this row corrects a rejected row exported earlier (<c>_ferry_stage_id</c>).</summary>
    public long? CorrectsStageId { get; set; }
    public RowAction Action { get; set; }
    /// <summary>Valid, but the target refused it (a key already there in insert mode, a constraint).</summary>
    public bool RefusedByTarget { get; set; }

    public bool Rejected => Values is null;

    /// <summary>Still to be written: valid, and not found unchanged by the run's own hash comparison.</summary>
    public bool ToWrite => Values is not null && Action == RowAction.None;
}

/// <summary>A batch of rows with its position in the source (the checkpoint).</summary>
public sealed record Batch(int Number, IReadOnlyList<string> SourceColumns, IReadOnlyList<BatchRow> Rows)
{
    /// <summary>
    /// Each row's <see cref="SourceHasher"/> hash (8 bytes a row, 0 for a row with an issue), kept in
    /// the batch record for a later run to compare; null for an entity without a <see cref="EntityPlan.SourceSeed"/>.
    /// </summary>
    public byte[]? SourceDigest { get; init; }

    /// <summary>
    /// Every raw row equals, in order and on the same lines, the rows of the prior run's batch record at
    /// this position, which wrote or found each of them unchanged: the rows were neither validated nor
    /// mapped (they have no values) and the target may copy that record (<see cref="Targets.IEntityLoader.TryLoadUnchangedAsync"/>).
    /// </summary>
    public bool SourceUnchanged { get; init; }

    /// <summary>Its landed record is committed (<see cref="Targets.IBatchLanding"/>): the loader goes on from there.</summary>
    public bool Landed { get; init; }

    public long FirstLine => Rows.Count == 0 ? 0 : Rows[0].Line;
    public long LastLine => Rows.Count == 0 ? 0 : Rows[^1].Line;
}

using System.Globalization;
using System.Text.Json;
using Ferry.Diagnostics;

namespace Ferry.Reconciliation;

/// <summary>Keeps a reconciliation's results in the ledger: one row per check of each entity of each tenant.</summary>
internal sealed partial class TargetTables
{
    /// <summary>The checks a reconciliation makes, each passed unless a mismatch of its kinds was found.</summary>
    private static readonly (string Check, string[] Kinds)[] Checks =
    [
        ("ledger-counts", ["ledger-counts"]),
        ("source-counts", ["source-counts"]),
        ("content", ["missing", "differs"]),
        ("orphans", ["orphans"]),
        ("error", ["error"]),
    ];

    public async Task RecordAsync(ReconciliationReport report, CancellationToken cancellationToken)
    {
        var table = ledger.Table("reconciliations");
        await using (var exists = Command(ledger.TableExistsSql, ("name", table)))
            if (!Convert.ToBoolean(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture))
                return; // a ledger from before reconciliations were kept; the next run creates the table
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = schema is null ? (object)DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) : DateTime.UtcNow;
        foreach (var entity in report.Entities.Where(e => e.Skipped is null))
            foreach (var (check, kinds) in Checks)
            {
                var mismatches = entity.Mismatches.Where(m => kinds.Contains(m.Kind)).ToList();
                if (check == "error" && mismatches.Count == 0)
                    continue;
                object figures = check switch
                {
                    "ledger-counts" => new { ledger = entity.Ledger },
                    "source-counts" => new { source = entity.Source, ledger = entity.Ledger },
                    "content" => new { checksum = entity.Checksum, missing_keys = entity.MissingKeys.Count },
                    "orphans" => new { orphans = entity.Orphans.Select(o => new { column = o.Column, parent = o.ParentEntity, count = o.Count }) },
                    _ => new { },
                };
                var summary = SecretMasker.Scrub(JsonSerializer.Serialize(new
                {
                    figures,
                    mismatches = mismatches.Take(10).Select(m => m.Message),
                    mismatch_count = mismatches.Count,
                }));
                await using var insert = Command($"""
                    INSERT INTO {table} (run_id, entity, tenant, "check", passed, summary, checked_at)
                    VALUES (@run, @entity, @tenant, @check, @passed, {(schema is null ? "@summary" : "@summary::jsonb")}, @at)
                    """, ("run", report.RunId), ("entity", entity.Entity), ("tenant", entity.Tenant), ("check", check),
                    ("passed", mismatches.Count == 0), ("summary", summary), ("at", now));
                insert.Transaction = transaction;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}

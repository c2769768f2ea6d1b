namespace Ferry.Tests.History;

/// <summary>
/// Mode scd2 on real SQLite and PostgreSQL targets: monthly files build a type-2 history, as in the
/// data-mart scenario. Each test runs the real CLI against both.
/// </summary>
public class HistoryLoadTests
{
    private static readonly Citizen[] January =
    [
        new(1, "Ann", "Oslo", "111"),
        new(2, "Bob", "Bergen", "222"),
        new(3, "Cid", "Tromso", "333"),
        new(4, "Dag", "Molde", "444"),
    ];

    // Bob moves (tracked), Ann's phone changes (not tracked), Cid is absent, Eve is new.
    private static readonly Citizen[] February =
    [
        new(1, "Ann", "Oslo", "999"),
        new(2, "Bob", "Stavanger", "222"),
        new(4, "Dag", "Molde", "444"),
        new(5, "Eve", "Narvik", "555"),
    ];

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Monthly_files_build_the_history_a_change_closes_one_version_and_opens_the_next(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest();
        target.WriteFile(January);

        var first = await target.Load("2026-01-01");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal("4 4 0 0 0", target.Counts(1));
        Assert.Equal(["Bob/Bergen/222 2026-01-01 00:00:00..NULL current"], target.Versions(2));

        // The same file again: nothing changes, every row is unchanged.
        var before = target.Dump();
        var rerun = await target.Load("2026-01-01");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal("4 0 0 4 0", target.Counts(2));
        Assert.Equal(before, target.Dump());

        target.WriteFile(February);
        var second = await target.Load("2026-02-01");

        Assert.True(second.ExitCode == 0, second.ToString());
        // Eve inserted; Bob (a new version) and Ann (corrected in place) updated; Dag unchanged.
        Assert.Equal("4 1 2 1 0", target.Counts(3));
        Assert.Equal(["Bob/Bergen/222 2026-01-01 00:00:00..2026-02-01 00:00:00", "Bob/Stavanger/222 2026-02-01 00:00:00..NULL current"], target.Versions(2));
        Assert.Equal(["Ann/Oslo/999 2026-01-01 00:00:00..NULL current"], target.Versions(1));
        Assert.Equal(["Cid/Tromso/333 2026-01-01 00:00:00..NULL current"], target.Versions(3)); // missing: ignore
        Assert.Equal(["Eve/Narvik/555 2026-02-01 00:00:00..NULL current"], target.Versions(5));
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite", "close")]
    [InlineData("postgres", "close")]
    [InlineData("sqlite", "delete")]
    [InlineData("postgres", "delete")]
    public async Task A_key_absent_from_a_full_file_is_closed_or_marked_deleted_and_comes_back_as_a_new_version(string kind, string missing)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest(missing);
        target.WriteFile(January);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);
        target.WriteFile(February);

        Assert.Equal(0, (await target.Load("2026-02-01")).ExitCode);

        Assert.Equal(missing == "close"
                ? ["Cid/Tromso/333 2026-01-01 00:00:00..2026-02-01 00:00:00"]
                : ["Cid/Tromso/333 2026-01-01 00:00:00..2026-02-01 00:00:00", "Cid/Tromso/333 2026-02-01 00:00:00..NULL current"],
            target.Versions(3));
        if (missing == "delete")
            Assert.Equal(1, target.Count("SELECT count(*) FROM {t} WHERE citizen_id = 3 AND is_current AND is_deleted"));
        Assert.Equal(1, target.Count($"SELECT closed FROM {target.Ledger("history_runs")} WHERE run_id = {target.RunId(2)}"));
        // Only a run that reads the whole source closes absent keys: a --source file closes none.
        target.Workspace.Write("fix.csv", "id,name,city,phone\n1,Ann,Oslo,999\n");
        var partial = await target.Workspace.Ferry("run", "ferry.yaml", "--no-reconcile", "--as-of", "2026-02-15", "--source", "fix.csv");
        Assert.True(partial.ExitCode == 0, partial.ToString());
        Assert.Equal(3, target.Count("SELECT count(*) FROM {t} WHERE citizen_id IN (2, 4, 5) AND is_current AND valid_to IS NULL"));
        Assert.Contains("--source", (string)target.Query($"SELECT missing_skipped FROM {target.Ledger("history_runs")} WHERE run_id = {target.RunId(3)}")[0]["missing_skipped"]!);

        // Cid is back in March: a current version again, counted inserted.
        target.WriteFile([.. February, new Citizen(3, "Cid", "Tromso", "333")]);
        Assert.Equal(0, (await target.Load("2026-03-01")).ExitCode);
        Assert.Equal("5 1 0 4 0", target.Counts(4));
        Assert.Equal("Cid/Tromso/333 2026-03-01 00:00:00..NULL current", target.Versions(3)[^1]);
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task An_older_file_loaded_after_a_newer_one_changes_nothing_and_its_differing_rows_are_refused_by_key_and_date(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest("close");
        target.WriteFile(January);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);
        target.WriteFile(February);
        Assert.Equal(0, (await target.Load("2026-03-01")).ExitCode);
        var before = target.Dump();

        // A February file arrives after March: Ann agrees with her current version, Bob does not, Fay is new.
        target.WriteFile([new Citizen(1, "Ann", "Oslo", "999"), new Citizen(2, "Bob", "Trondheim", "222"), new Citizen(6, "Fay", "Bodo", "666")]);
        var late = await target.Load("2026-02-01");

        Assert.True(late.ExitCode == 3, late.ToString());
        Assert.Equal("3 0 0 1 2", target.Counts(3));
        Assert.Equal(before, target.Dump());
        var errors = target.Query($"SELECT business_key, errors FROM {(target.Postgres ? "ferry.\"stage_citizen\"" : "ferry_stage_citizen")} WHERE run_id = {target.RunId(3)} AND status = 'error' ORDER BY line");
        Assert.Equal(["2", "6"], errors.Select(e => (string)e["business_key"]!));
        var message = System.Text.Json.JsonDocument.Parse(HistoryTarget.Text(errors[0]["errors"])).RootElement[0].GetProperty("message").GetString()!;
        Assert.Contains("key '2'", message, StringComparison.Ordinal);
        Assert.Contains("2026-02-01 00:00:00Z", message, StringComparison.Ordinal);
        Assert.Contains($"run {target.RunId(2)} (2026-03-01 00:00:00Z)", message, StringComparison.Ordinal);
        // Nor does a late run close absent keys.
        Assert.Equal(1, target.Count("SELECT count(*) FROM {t} WHERE citizen_id = 4 AND is_current"));
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_key_whose_last_version_ends_after_the_as_of_time_is_refused_and_the_other_keys_load(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest();
        target.WriteFile(January);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);
        // Another program ended Cid's version on 1 March; no run of Ferry's is later than February.
        target.Execute(target.Postgres
            ? "UPDATE {t} SET valid_to = '2026-03-01 00:00:00+00', is_current = false WHERE citizen_id = 3"
            : "UPDATE {t} SET valid_to = replace(valid_from, '2026-01-01', '2026-03-01'), is_current = 0 WHERE citizen_id = 3");
        var before = target.Versions(3);

        target.WriteFile([.. January.Where(c => c.Id != 3), new Citizen(3, "Cid", "Bergen", "333"), new Citizen(5, "Eve", "Narvik", "555")]);
        var february = await target.Load("2026-02-01");

        Assert.True(february.ExitCode == 3, february.ToString());
        Assert.Equal("5 1 0 3 1", target.Counts(2));
        Assert.Equal(before, target.Versions(3));
        Assert.Equal(["Eve/Narvik/555 2026-02-01 00:00:00..NULL current"], target.Versions(5));
        var errors = target.Query($"SELECT business_key, errors FROM {(target.Postgres ? "ferry.\"stage_citizen\"" : "ferry_stage_citizen")} WHERE run_id = {target.RunId(2)} AND status = 'error'");
        Assert.Equal("3", (string)Assert.Single(errors)["business_key"]!);
        Assert.Contains("the end of its latest version (2026-03-01 00:00:00Z)", HistoryTarget.Text(errors[0]["errors"]), StringComparison.Ordinal);
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task The_database_itself_refuses_a_second_current_version_of_a_key(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest();
        target.WriteFile(January);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);

        var refused = Record.Exception(() => target.Execute(
            "INSERT INTO {t} (citizen_id, name, city, phone, valid_from, valid_to, is_current) VALUES (1, 'Ann', 'Paris', '1', '2026-05-01', NULL, true)"));

        Assert.NotNull(refused);
        Assert.Contains(target.Postgres ? "duplicate key" : "UNIQUE constraint failed", refused.Message, StringComparison.Ordinal);
        // A closed version of the key is no trouble.
        target.Execute("INSERT INTO {t} (citizen_id, name, city, phone, valid_from, valid_to, is_current) VALUES (1, 'Ann', 'Paris', '1', '2025-01-01', '2025-06-01', false)");
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Rollback_restores_the_history_exactly_and_is_refused_while_a_later_run_changed_the_same_keys(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest("delete");
        target.WriteFile(January);
        Assert.Equal(0, (await target.Load("2026-01-01")).ExitCode);
        var afterJanuary = target.Dump();
        target.WriteFile(February);
        Assert.Equal(0, (await target.Load("2026-02-01")).ExitCode);
        var afterFebruary = target.Dump();
        target.WriteFile([.. February.Select(c => c with { City = c.City + "X", Phone = "0" })]);
        Assert.Equal(0, (await target.Load("2026-03-01")).ExitCode);

        var refused = await target.Rollback(2);

        Assert.True(refused.ExitCode != 0, refused.ToString());
        Assert.Contains($"later run(s) {target.RunId(3)}", refused.Error, StringComparison.Ordinal);
        Assert.Equal("succeeded", target.Runs()[1].Status);

        var third = await target.Rollback(3);
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Equal(afterFebruary, target.Dump());
        var second = await target.Rollback(2);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(afterJanuary, target.Dump());
        Assert.Equal(["succeeded", "rolled_back", "rolled_back"], target.Runs().Select(r => r.Status));
        var again = await target.Rollback(2);
        Assert.Contains("rolled back already", again.Error, StringComparison.Ordinal);

        // February again after the rollback gives the same history as the first time (ids aside).
        target.WriteFile(February);
        Assert.Equal(0, (await target.Load("2026-02-01")).ExitCode);
        Assert.Equal(afterFebruary.Select(StripId), target.Dump().Select(StripId));
        target.AssertConsistent();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_plain_run_reconciles_the_source_against_the_current_versions(string kind)
    {
        using var target = new HistoryTarget(kind);
        target.WriteManifest("close");
        target.WriteFile(January);
        Assert.Equal(0, (await target.Workspace.Ferry("run", "ferry.yaml", "--as-of", "2026-01-01")).ExitCode);
        target.WriteFile(February);

        var second = await target.Workspace.Ferry("run", "ferry.yaml", "--as-of", "2026-02-01");

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("reconciliation of run", second.Output, StringComparison.Ordinal);
        Assert.Contains(": ok", second.Output, StringComparison.Ordinal);
    }

    private static string StripId(string row) => string.Join(" | ", row.Split(" | ").Where(p => !p.StartsWith("version_id=", StringComparison.Ordinal)));
}

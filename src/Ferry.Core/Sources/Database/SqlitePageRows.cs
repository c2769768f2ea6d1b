using System.Text;
using Ferry.Targets.Sqlite;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using static Ferry.Targets.Sqlite.SqliteNative;

namespace Ferry.Sources.Database;

/// <summary>
/// A page of a SQLite source read through SQLite's own statement API on the connection's handle.
/// Microsoft.Data.Sqlite's <c>GetValue</c> asks SQLite a value's type twice and goes through a few
/// layers for each value; a four-million-row migration spent a quarter of its time there. The values
/// are those <c>GetValue</c> gives: <see cref="long"/>, <see cref="double"/>, <see cref="string"/>
/// (SQLite's UTF-8 text), <c>byte[]</c>, <see cref="DBNull"/>.
/// </summary>
/// <remarks>
/// A row's values are read with <see cref="SqliteNative"/>'s calls on the raw handles, as the SQLite
/// target writes its rows: through SQLitePCLRaw every call counted a reference on the statement's
/// SafeHandle up and down, and every call took the connection's mutex and gave it back; the texts of
/// a row are read under the mutex held once (<see cref="GetTexts"/>). A migration's reconciliation
/// spent about a tenth of its CPU on those two.
/// </remarks>
public sealed unsafe class SqlitePageRows : IPageRows
{
    private const int BusyTimeoutMilliseconds = 30_000; // as long as a command's default timeout
    private readonly sqlite3 database;
    private readonly sqlite3_stmt statement;
    private readonly IntPtr handle, databaseHandle; // the raw handles, which the SafeHandles above keep open
    private bool done;

    private SqlitePageRows(sqlite3 database, sqlite3_stmt statement)
    {
        this.database = database;
        this.statement = statement;
        handle = statement.DangerousGetHandle();
        databaseHandle = database.DangerousGetHandle();
    }

    /// <summary>
    /// Whether the raw calls reach the library the connections were opened with: the e_sqlite3 of
    /// Microsoft.Data.Sqlite's bundle. A host that chose another provider reads through ADO.NET.
    /// </summary>
    public static bool Usable { get; } = raw.GetNativeLibraryName() == "e_sqlite3";

    /// <summary>Prepares <paramref name="sql"/> and binds <paramref name="parameters"/> to <paramref name="dialect"/>'s <c>Parameter(0)</c>, ….</summary>
    public static IPageRows Open(ISqlDialect dialect, SqliteConnection connection, string sql, object[]? parameters)
    {
        var database = connection.Handle ?? throw new InvalidOperationException("the SQLite connection is not open");
        // A writer holding the file makes SQLite wait for it, as a command would, rather than fail at once.
        raw.sqlite3_busy_timeout(database, BusyTimeoutMilliseconds);
        Check(database, raw.sqlite3_prepare_v2(database, sql, out var statement));
        var page = new SqlitePageRows(database, statement);
        try
        {
            for (var i = 0; parameters is not null && i < parameters.Length; i++)
            {
                var index = raw.sqlite3_bind_parameter_index(statement, dialect.Parameter(i));
                if (index == 0)
                    throw new InvalidOperationException($"the page SQL has no parameter {dialect.Parameter(i)}");
                Check(database, parameters[i] switch
                {
                    null or DBNull => raw.sqlite3_bind_null(statement, index),
                    long l => raw.sqlite3_bind_int64(statement, index, l),
                    double d => raw.sqlite3_bind_double(statement, index, d),
                    string s => raw.sqlite3_bind_text(statement, index, s),
                    byte[] b => raw.sqlite3_bind_blob(statement, index, b),
                    var other => throw new InvalidOperationException($"a SQLite key value of type {other.GetType().Name}"),
                });
            }
            return page;
        }
        catch
        {
            statement.Dispose();
            throw;
        }
    }

    /// <summary>Whether a key value is of a type bound here as Microsoft.Data.Sqlite would bind it (the types <see cref="GetValue"/> gives).</summary>
    public static bool Binds(object? value) => value is null or DBNull or long or double or string or byte[];

    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        if (done)
            return new(false);
        cancellationToken.ThrowIfCancellationRequested();
        var rc = sqlite3_step(handle);
        if (rc == raw.SQLITE_ROW)
            return new(true);
        done = true;
        if (rc != raw.SQLITE_DONE)
            Check(database, rc);
        return new(false);
    }

    public object GetKey(int ordinal) => GetValue(ordinal);

    public void GetTexts(ReadOnlySpan<bool> plain, RepeatedTexts texts, string?[] values, Span<bool> got)
    {
        using var held = new Held(databaseHandle);
        IPageRows.GetTextsOneByOne(this, plain, texts, values, got);
    }

    public bool TryGetText(int ordinal, RepeatedTexts texts, out string value)
    {
        switch (sqlite3_column_type(handle, ordinal))
        {
            case raw.SQLITE_INTEGER:
                value = DbValueText.Integer(sqlite3_column_int64(handle, ordinal));
                return true;
            case raw.SQLITE_TEXT:
                break;
            default:
                value = "";
                return false;
        }
        // A text's bytes, as SQLite keeps them (UTF-8); a short one is decoded on the stack and looked up.
        // The blob's pointer first: asking for it may change the value's form, and then its length.
        var start = sqlite3_column_blob(handle, ordinal);
        var bytes = new ReadOnlySpan<byte>(start, sqlite3_column_bytes(handle, ordinal));
        if (bytes.Length > RepeatedTexts.MaxLength)
        {
            value = Encoding.UTF8.GetString(bytes);
            return true;
        }
        Span<char> chars = stackalloc char[RepeatedTexts.MaxLength];
        value = texts.Get(ordinal, chars[..Encoding.UTF8.GetChars(bytes, chars)]);
        return true;
    }

    public object GetValue(int ordinal) => sqlite3_column_type(handle, ordinal) switch
    {
        raw.SQLITE_INTEGER => sqlite3_column_int64(handle, ordinal),
        raw.SQLITE_FLOAT => sqlite3_column_double(handle, ordinal),
        raw.SQLITE_TEXT => raw.sqlite3_column_text(statement, ordinal).utf8_to_string(),
        raw.SQLITE_BLOB => raw.sqlite3_column_blob(statement, ordinal).ToArray(),
        _ => DBNull.Value,
    };

    private static void Check(sqlite3 database, int rc)
    {
        if (rc != raw.SQLITE_OK)
            throw new SqliteException($"SQLite Error {rc}: '{raw.sqlite3_errmsg(database).utf8_to_string()}'.", rc, raw.sqlite3_extended_errcode(database));
    }

    public ValueTask DisposeAsync()
    {
        statement.Dispose();
        return ValueTask.CompletedTask;
    }
}

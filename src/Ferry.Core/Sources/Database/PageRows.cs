using System.Data.Common;

namespace Ferry.Sources.Database;

/// <summary>The rows of one keyset page, read forward, one at a time.</summary>
public interface IPageRows : IAsyncDisposable
{
    /// <summary>Moves to the next row; false after the last.</summary>
    ValueTask<bool> ReadAsync(CancellationToken cancellationToken);

    /// <summary>A key value as the driver gives it (<see cref="DBNull"/> for NULL).</summary>
    object GetKey(int ordinal);

    /// <summary>A value as <see cref="ISqlDialect.GetValue"/> reads it.</summary>
    object GetValue(int ordinal);

    /// <summary>
    /// The value's text under no rule, where the driver gives it without a boxed value in between: an
    /// integer's (<see cref="DbValueText.Integer"/>), or a text's through <paramref name="texts"/> (a
    /// value the column repeats is one string); false otherwise (read it with <see cref="GetValue"/>).
    /// </summary>
    bool TryGetText(int ordinal, RepeatedTexts texts, out string value)
    {
        value = "";
        return false;
    }

    /// <summary>
    /// <see cref="TryGetText"/> for each column <c>i</c> that <paramref name="plain"/> names: its
    /// text goes to <c>values[i]</c> and <c>got[i]</c> says whether there was one. One call a row,
    /// so that a driver can do once what every value would otherwise do again.
    /// </summary>
    void GetTexts(ReadOnlySpan<bool> plain, RepeatedTexts texts, string?[] values, Span<bool> got) =>
        GetTextsOneByOne(this, plain, texts, values, got);

    /// <summary><see cref="GetTexts"/> as a <see cref="TryGetText"/> a column, for a driver's own <see cref="GetTexts"/> to wrap.</summary>
    protected static void GetTextsOneByOne(IPageRows rows, ReadOnlySpan<bool> plain, RepeatedTexts texts, string?[] values, Span<bool> got)
    {
        for (var i = 0; i < values.Length; i++)
            got[i] = plain[i] && rows.TryGetText(i, texts, out values[i]!);
    }
}

/// <summary>A page read through ADO.NET: a command and its data reader.</summary>
public sealed class DbPageRows : IPageRows
{
    private readonly ISqlDialect dialect;
    private readonly DbCommand command;
    private readonly DbDataReader reader;

    private DbPageRows(ISqlDialect dialect, DbCommand command, DbDataReader reader)
    {
        this.dialect = dialect;
        this.command = command;
        this.reader = reader;
    }

    /// <summary>Runs <paramref name="sql"/> with <paramref name="parameters"/> as <c>Parameter(0)</c>, <c>Parameter(1)</c>, ….</summary>
    public static async Task<IPageRows> OpenAsync(ISqlDialect dialect, DbConnection connection, string sql, object[]? parameters, CancellationToken cancellationToken)
    {
        var command = connection.CreateCommand();
        try
        {
            command.CommandText = sql;
            for (var i = 0; parameters is not null && i < parameters.Length; i++)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = dialect.Parameter(i);
                parameter.Value = parameters[i];
                command.Parameters.Add(parameter);
            }
            return new DbPageRows(dialect, command, await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            await command.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<bool> ReadAsync(CancellationToken cancellationToken) => new(reader.ReadAsync(cancellationToken));

    public object GetKey(int ordinal) => reader.GetValue(ordinal);

    public object GetValue(int ordinal) => dialect.GetValue(reader, ordinal);

    public async ValueTask DisposeAsync()
    {
        await reader.DisposeAsync().ConfigureAwait(false);
        await command.DisposeAsync().ConfigureAwait(false);
    }
}

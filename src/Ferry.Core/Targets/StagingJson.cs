using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ferry.Contracts;
using Ferry.Diagnostics;
using Ferry.Engine;

namespace Ferry.Targets;

/// <summary>How a staged row's raw values and messages are written, the same on every target.</summary>
internal sealed class StagingJson : IDisposable
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ArrayBufferWriter<byte> buffer = new(1024);
    private readonly Utf8JsonWriter writer;

    public StagingJson() => writer = new Utf8JsonWriter(buffer, Options);

    /// <summary>The raw source values as a JSON object in column order (UTF-8); Ferry's own columns are left out.</summary>
    public ReadOnlySpan<byte> Raw(IReadOnlyList<string> columns, string?[] raw)
    {
        buffer.ResetWrittenCount();
        writer.Reset();
        writer.WriteStartObject();
        for (var i = 0; i < columns.Count; i++)
            if (!columns[i].StartsWith(RunEngine.ReservedPrefix, StringComparison.Ordinal))
                writer.WriteString(columns[i], raw[i]);
        writer.WriteEndObject();
        writer.Flush();
        return buffer.WrittenSpan;
    }

    /// <summary>The row's rejecting issues (or, with <paramref name="rejecting"/> false, its warnings) as a JSON array; null when none.</summary>
    public static string? Issues(List<ValidationIssue> issues, bool rejecting)
    {
        if (!issues.Exists(x => x.RejectsRow == rejecting))
            return null;
        return JsonSerializer.Serialize(issues.Where(x => x.RejectsRow == rejecting).Select(x => new
        {
            severity = x.Severity.ToString().ToLowerInvariant(),
            rule = x.Rule,
            column = x.Column,
            message = SecretMasker.Scrub(x.Message),
        }));
    }

    public void Dispose() => writer.Dispose();
}

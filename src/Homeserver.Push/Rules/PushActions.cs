using System.Text.Json;
using System.Text.Json.Nodes;

namespace Homeserver.Push.Rules;

/// <summary>
/// What a matched rule asks for ("Actions"): notify or not, and the tweaks. <c>dont_notify</c> and <c>coalesce</c> are
/// historical and ignored; a <c>highlight</c> tweak without value means true, and no highlight tweak means false.
/// </summary>
public sealed class PushActions
{
    public static readonly PushActions None = new(false, false, new JsonObject(), []);

    private PushActions(bool notify, bool highlight, JsonObject tweaks, JsonArray actions)
    {
        Notify = notify;
        Highlight = highlight;
        Tweaks = tweaks;
        Actions = actions;
        ActionsJson = actions.ToJsonString();
    }

    public bool Notify { get; }

    public bool Highlight { get; }

    /// <summary>The <c>set_tweak</c> values (absent value = true), as sent to push gateways.</summary>
    public JsonObject Tweaks { get; }

    /// <summary>The actions with the historical ones stripped, as stored and shown by <c>/notifications</c>.</summary>
    public JsonArray Actions { get; }

    /// <summary>
    /// <see cref="Actions"/> as JSON text, written once per compiled rule: every notification row stores it, and
    /// serialising it per row was a large share of a busy room's allocations.
    /// </summary>
    public string ActionsJson { get; }

    public static PushActions Parse(JsonArray actions)
    {
        var notify = false;
        var tweaks = new JsonObject();
        var kept = new JsonArray();
        foreach (var action in actions)
        {
            if (action is JsonValue v && v.TryGetValue<string>(out var name))
            {
                if (name == "notify")
                {
                    notify = true;
                    kept.Add(JsonValue.Create("notify"));
                }

                continue;
            }

            if (action is JsonObject o && o.TryGetPropertyValue("set_tweak", out var tweakName) && tweakName is JsonValue tv && tv.TryGetValue<string>(out var tweak))
            {
                tweaks[tweak] = o.TryGetPropertyValue("value", out var value) ? value?.DeepClone() : JsonValue.Create(true);
                kept.Add(o.DeepClone());
            }
        }

        var highlight = tweaks.TryGetPropertyValue("highlight", out var h) && h is JsonValue hv && hv.GetValueKind() == JsonValueKind.True;
        return new PushActions(notify, highlight, tweaks, kept);
    }
}

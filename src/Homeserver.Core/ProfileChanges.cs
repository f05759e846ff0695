namespace Homeserver.Core;

/// <summary>
/// Told when a local user's display name or avatar changes through the profile API, after the new profile is stored:
/// the rooms module sends new membership events so that every joined room shows it (as Synapse does).
/// </summary>
public interface IProfileChangeListener
{
    Task OnProfileChangedAsync(string userId, string? displayName, string? avatarUrl, CancellationToken ct);
}

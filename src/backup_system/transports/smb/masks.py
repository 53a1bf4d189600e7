"""Sharing a tree listing out among sessions by name masks.

A session lists the top-level folders of its share with `ls "target\\MASK"` (recurse on: the mask selects
top-level entries, the recursion takes everything below them). Each `ls` costs about seven round trips of its
own (the folder opened, read to its end and closed, then smbclient asks for the free space), each folder below
about four. So the fewer masks the better, as long as the sessions get about equal work.

The top-level names go in a tree of their letters (case ignored, as the server matches masks); a branch whose
folders fit one session's share becomes one mask, `prefix*`; a larger branch is split into its own name (an
exact mask) and its branches. The masks are then dealt out, largest first, to the session with the least work.
Names a mask cannot hold (wildcard characters) are listed on their own (`plain`).
"""

import math

MASK_COST = 7  # round trips of one `ls` beyond the folders it lists
FOLDER_COST = 4  # round trips per folder listed
WILDCARDS = set('*?<>"')  # what a mask cannot hold literally (SMB names never do; a Unix-side name might)


class Branch:
    __slots__ = ("prefix", "names", "branches", "folders")

    def __init__(self, prefix):
        self.prefix = prefix  # the letters so far, as the first name through here spells them
        self.names = []  # names that end here (differing from each other in case only)
        self.branches = {}  # casefolded letter -> Branch
        self.folders = 0  # folders under every name in this branch, the names included


def sessions_plan(counts, sessions, first_cost=0):
    """[(masks, plain)] for at most `sessions` sessions covering every name of `counts` ({top-level folder:
    folders under it, itself included}); the first session also carries `first_cost` round trips of other work."""
    root, plain = Branch(""), []
    for name in sorted(counts):
        if WILDCARDS & set(name):
            plain.append(name)
        else:
            add(root, name, max(1, counts[name]))
    total = FOLDER_COST * (root.folders + sum(max(1, counts[name]) for name in plain))
    share = math.ceil(total / max(1, sessions)) + MASK_COST
    units = [(cost, [mask], []) for cost, mask in masks_of(root, share)]
    units += [(FOLDER_COST * max(1, counts[name]) + MASK_COST, [], [name]) for name in plain]
    return deal(units, sessions, first_cost)


def add(root, name, folders):
    branch = root
    branch.folders += folders
    for index, letter in enumerate(name):
        branch = branch.branches.setdefault(letter.casefold(), Branch(name[:index + 1]))
        branch.folders += folders
    branch.names.append(name)


def masks_of(branch, share):
    """[(round trips, mask)] covering the branch: itself as `prefix*` when it fits `share`, else split."""
    cost = FOLDER_COST * branch.folders + MASK_COST
    if branch.prefix and (cost <= share or not branch.branches):
        return [(cost, branch.prefix + ("*" if branch.branches else ""))]
    found = []
    if branch.names:  # an exact mask matches the name itself (in any case), not the names it begins
        own = branch.folders - sum(below.folders for below in branch.branches.values())
        found.append((FOLDER_COST * own + MASK_COST, branch.names[0]))
    for letter in sorted(branch.branches):
        found += masks_of(branch.branches[letter], share)
    return found


def deal(units, sessions, first_cost):
    """The units dealt largest first, each to the session with the least work so far: [(masks, plain)]."""
    count = max(1, min(sessions, len(units)))
    loads = [first_cost] + [0] * (count - 1)
    groups = [([], []) for _ in range(count)]
    for cost, masks, plain in sorted(units, key=lambda unit: -unit[0]):
        lightest = min(range(count), key=loads.__getitem__)
        loads[lightest] += cost
        groups[lightest][0].extend(masks)
        groups[lightest][1].extend(plain)
    return [(sorted(masks), sorted(plain)) for masks, plain in groups if masks or plain]

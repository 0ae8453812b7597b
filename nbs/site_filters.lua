-- Pandoc filter of the radllm site (_quarto.yml: filters): no link that leads nowhere.
--
-- nbdev's show_doc links each symbol to its source at settings.ini's git_url: [source](GIT_URL/blob/BRANCH/radllm/x.py#L12).
-- While the repository has no public address, git_url is empty and those links have no host (/blob/main/radllm/x.py#L12):
-- they lead nowhere (and Quarto warns "Unable to resolve link target" for each), so they are dropped here, with the
-- paragraph that holds them. Once git_url is set they have a host and are kept. tests/test_site_render.py checks that
-- every link on the site resolves.
local function hostless_source(inline)
  return inline.t == "Link" and inline.target:match("^/blob/") ~= nil
end

function Para(el)
  local kept = el.content:filter(function(inline) return not hostless_source(inline) end)
  if #kept == #el.content then return nil end
  if #kept == 0 then return {} end
  el.content = kept
  return el
end

-- nbdev links every backticked name of radllm's module index, private ones too ([`_read_table`](data.html#_read_table)),
-- but show_doc documents only the public names: a link to a private name lands on no heading. It stays plain code.
function Link(el)
  if el.target:match("%.html#_") and #el.content == 1 and el.content[1].t == "Code" then return el.content end
end

package heygen

import (
	"net/http"
	"strings"
)

// Templates: GET /v2/templates, GET /v2/template/{id}, POST /v2/template/{id}/generate and
// the v3 /v3/templates family (docs/simulators.md §9). Both versions generate through
// templateVideo and store the result as an ordinary video.

type templateRequest struct {
	Variables   map[string]templateVar `json:"variables"`
	Title       string                 `json:"title"`
	Caption     bool                   `json:"caption"`
	CallbackID  string                 `json:"callback_id"`
	CallbackURL string                 `json:"callback_url"`
	FolderID    string                 `json:"folder_id"`
	Dimension   *dimension             `json:"dimension"`
	Test        bool                   `json:"test"`
}

// findTemplate returns the catalog template or the 404 of the route's version.
func (s *Server) findTemplate(c *call, id string) (*template, error) {
	t := s.cat.templateByID[id]
	if t == nil {
		code := "template_not_found"
		if c.style == styleV3 {
			code = "resource_not_found"
		}
		return nil, notFound(code, "Template not found")
	}
	return t, nil
}

// generateFromTemplate serves both generate routes: it validates the body against the
// template named in the path and stores the video.
func (s *Server) generateFromTemplate(w http.ResponseWriter, r *http.Request, c *call, api int) (*video, error) {
	t, err := s.findTemplate(c, r.PathValue("template_id"))
	if err != nil {
		return nil, err
	}
	var req templateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return nil, err
	}
	v, script, err := templateVideo(t, &req)
	if err != nil {
		return nil, err
	}
	v.API = api
	s.addVideo(c, v, script)
	return v, nil
}

// templateVideo validates a template generate request and builds the video.
func templateVideo(t *template, req *templateRequest) (*video, string, error) {
	if len(req.Variables) == 0 {
		return nil, "", invalidParam("variables", "variables is required")
	}
	var script strings.Builder
	for name, v := range req.Variables {
		def, ok := t.Variables[name]
		if !ok {
			return nil, "", invalidParam("variables", "variable %q is not defined in template %s", name, t.ID)
		}
		if v.Type != "" && v.Type != def.Type {
			return nil, "", invalidParam("variables", "variable %q must have type %q", name, def.Type)
		}
		if def.Type == "text" {
			content, _ := v.Properties["content"].(string)
			script.WriteString(content + "\n")
		}
	}
	for _, sc := range t.Scenes {
		script.WriteString(sc.Script + "\n")
	}
	defW, defH := 1280, 720
	if t.AspectRatio == "portrait" {
		defW, defH = 720, 1280
	}
	dim, err := checkDimension(req.Dimension, defW, defH)
	if err != nil {
		return nil, "", err
	}
	if (dim.Width >= dim.Height) != (defW >= defH) {
		return nil, "", invalidParam("dimension", "dimension must match the template's aspect ratio (%s)", t.AspectRatio)
	}
	v := &video{
		Title: req.Title, CallbackID: req.CallbackID, CallbackURL: req.CallbackURL, FolderID: req.FolderID,
		Test: req.Test, Caption: req.Caption, Width: dim.Width, Height: dim.Height,
		Duration: scriptDuration(script.String()), OutputFormat: "mp4", TemplateID: t.ID,
	}
	if v.Title == "" {
		v.Title = t.Name
	}
	return v, script.String(), nil
}

func templateThumbnail(base string, t *template) string {
	return mediaURL(base, "images", "template_"+t.ID+".png")
}

// ---- v2 ----

func (s *Server) v2ListTemplates(w http.ResponseWriter, r *http.Request, c *call) error {
	out := []map[string]any{}
	for _, t := range s.cat.templates {
		out = append(out, map[string]any{
			"template_id": t.ID, "name": t.Name, "aspect_ratio": t.AspectRatio,
			"thumbnail_image_url": templateThumbnail(c.base, t),
		})
	}
	okV2(w, map[string]any{"templates": out})
	return nil
}

func (s *Server) v2GetTemplate(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.findTemplate(c, r.PathValue("template_id"))
	if err != nil {
		return err
	}
	okV2(w, map[string]any{"variables": t.Variables})
	return nil
}

func (s *Server) v2GenerateTemplate(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.generateFromTemplate(w, r, c, 2)
	if err != nil {
		return err
	}
	okV2(w, map[string]any{"video_id": v.ID})
	return nil
}

// ---- v3 ----

func v3Aspect(a string) string {
	if a == "portrait" {
		return "9:16"
	}
	return "16:9"
}

func v3TemplateJSON(base string, t *template, detail bool) map[string]any {
	m := map[string]any{
		"id": t.ID, "name": t.Name, "aspect_ratio": v3Aspect(t.AspectRatio),
		"thumbnail_url": templateThumbnail(base, t),
		"created_at":    t.CreatedAt, "updated_at": t.CreatedAt,
	}
	if detail {
		var ids []string
		var scenes []map[string]any
		for _, sc := range t.Scenes {
			ids = append(ids, sc.ID)
			var vars []map[string]any
			for _, n := range sc.Vars {
				vars = append(vars, map[string]any{"name": n, "variable_type": t.Variables[n].Type})
			}
			scenes = append(scenes, map[string]any{"scene_id": sc.ID, "script": sc.Script, "variables": vars})
		}
		// Defaults "in the same shape the generate request accepts" [HG-cli].
		m["scene_ids"], m["scenes"], m["variables"] = ids, scenes, t.Variables
	}
	return m
}

func (s *Server) v3ListTemplates(w http.ResponseWriter, r *http.Request, c *call) error {
	var items []map[string]any
	for _, t := range s.cat.templates {
		items = append(items, v3TemplateJSON(c.base, t, false))
	}
	return okV3Page(w, r, items, 10, 100)
}

func (s *Server) v3GetTemplate(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.findTemplate(c, r.PathValue("template_id"))
	if err != nil {
		return err
	}
	okV3(w, v3TemplateJSON(c.base, t, true))
	return nil
}

// v3GenerateTemplate returns a VideoDetail [HG-cli].
func (s *Server) v3GenerateTemplate(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.generateFromTemplate(w, r, c, 3)
	if err != nil {
		return err
	}
	okV3(w, s.v3VideoDetail(c.base, v))
	return nil
}

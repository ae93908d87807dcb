package httpapi

func (s *Server) adminRoutes() {}
